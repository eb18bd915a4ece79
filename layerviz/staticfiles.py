"""Static files as whitenoise serves them: hashed, compressed names once ``collectstatic`` ran
(``dev.py start`` runs it), and before that the files' own names, so no page fails for want
of it (``manage.py runserver`` started by hand, a test's worker)."""

from __future__ import annotations

from whitenoise.storage import CompressedManifestStaticFilesStorage  # type: ignore[import-untyped]


class Storage(CompressedManifestStaticFilesStorage):
    def stored_name(self, name: str) -> str:
        # Only where a page links a file, not in collectstatic's own hashing: a file missing
        # there (a CSS url() to nothing) must still fail the collection.
        try:
            return super().stored_name(name)
        except ValueError:
            # Not collected: its own name, which whitenoise finds with Django's finders.
            return name
