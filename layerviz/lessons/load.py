"""Index the offline lesson images through the normal ingest path, once."""

from __future__ import annotations

from pathlib import Path

from layerviz.images import efficiency
from layerviz.images.ingest import ingest
from layerviz.images.lookup import find_image
from layerviz.images.models import Reference

from . import containers as recorded_containers
from . import images

ARCHIVE = "lessons.tar"


def missing() -> list[str]:
    """The lesson tags no indexed image is known by yet."""
    known = set(Reference.objects.filter(display__in=images.TAGS).values_list("display", flat=True))
    return [tag for tag in images.TAGS if tag not in known]


def load(folder: Path) -> list[str]:
    """The tags indexed now: 1. none when every lesson tag already names an image (nothing is
    generated); 2. else the archive is written into ``folder`` and ingested like any upload,
    images indexed before only named again; 3. each new image is analysed."""
    todo = missing()
    if not todo:
        return []
    path = images.write_archive(folder / ARCHIVE)
    indexed = ingest(f"docker-archive:{path}", label=f"lessons:{ARCHIVE}")
    efficiency.analyze_ingested(indexed)
    # The writable-layer lesson's containers, recorded: it works without an engine.
    recorded_containers.record(find_image(recorded_containers.IMAGE))
    return todo
