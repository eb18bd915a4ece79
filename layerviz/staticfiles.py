"""Static files as whitenoise serves them: hashed, compressed names once ``collectstatic`` ran
(``dev.py start`` runs it), and before that the files' own names, so no page fails for want
of it (``manage.py runserver`` started by hand, a test's worker)."""

from __future__ import annotations

from typing import Any

from whitenoise.storage import CompressedManifestStaticFilesStorage  # type: ignore[import-untyped]


class Storage(CompressedManifestStaticFilesStorage):
    manifest_strict = False  # a file the manifest lacks is named below, not an error

    def hashed_name(self, name: str, content: Any = None, filename: str | None = None) -> str:
        try:
            return super().hashed_name(name, content, filename)
        except ValueError:
            # Not collected: its own name, which whitenoise finds with Django's finders.
            return name
