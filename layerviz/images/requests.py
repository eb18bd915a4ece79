"""What to ingest and how: one type for the add form, the ``ingest`` command and the worker.

The form and the command build an ``IngestRequest``; a background job keeps it as JSON with
the job (``to_job``) and the worker reads it back (``from_job``) to run it. The password, when
there is one, is kept only until the job has run (``tasks._finish``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from layerviz.sources import SourceOptions

from .ingest import ingest
from .models import Image, IngestJob
from .progress import Progress


@dataclasses.dataclass
class IngestRequest:
    source: str  # a source spec: docker-archive:PATH, docker://REF, …
    platform: str = ""  # os/arch[/variant]; empty means this machine's where there is a choice
    tag: str = ""  # also name the image this
    pull: bool = False  # docker-daemon: let the engine pull it first
    insecure: bool = False  # docker://: allow plain HTTP
    username: str = ""
    password: str = ""
    label: str = ""  # the image's source as people should read it (an upload's file name)

    # Kept in IngestJob.options; source and platform have columns of their own.
    _OPTIONS = ("tag", "pull", "insecure", "username", "password", "label")

    def source_options(self) -> SourceOptions:
        """The options a source takes (reading LAYERVIZ_MAX_* now, which may be set wrong)."""
        return SourceOptions(
            pull=self.pull,
            insecure=self.insecure,
            username=self.username or None,
            password=self.password or None,
        )

    def run(self, progress: Progress | None = None) -> list[Image]:
        return ingest(
            self.source,
            platform=self.platform or None,
            tag=self.tag or None,
            options=self.source_options(),
            progress=progress,
            label=self.label or None,
        )

    def to_job(self, *, upload: str = "") -> IngestJob:
        options: dict[str, Any] = {
            name: getattr(self, name) for name in self._OPTIONS if getattr(self, name)
        }
        return IngestJob.objects.create(
            source=self.source, platform=self.platform, options=options, upload=upload
        )

    @classmethod
    def from_job(cls, job: IngestJob) -> IngestRequest:
        options = job.options or {}
        known = {name: options[name] for name in cls._OPTIONS if name in options}
        return cls(source=job.source, platform=job.platform, **known)
