"""The search index: one row per file of a layer, shared by every image that uses the layer.

A row is a layer's version of a path (the last tar entry for it; directories, whiteouts and
opaque markers are not rows): what a search matches. Which images hold it, at which position,
and whether a later layer of each hides it, are worked out per query from ``ImageLayer`` and
``DirChanges`` (``queries.py``), so adding an image on known layers writes no search rows.

Substring and glob matches go through a trigram index on ``path`` that the migration makes
(PostgreSQL: a ``pg_trgm`` GIN index; SQLite: an FTS5 table with the trigram tokenizer, kept in
step by ``index.py``); file names through a btree on the expression ``SUBSTR(path, name_at)``, so
the name is not stored twice; content digests through a btree on ``sha256``.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F
from django.db.models.functions import Substr

from layerviz.images.models import Layer

# The SQLite trigram index (the migration makes it; ``index`` keeps it in step).
FTS_TABLE = "search_searchfile_fts"


def name_of() -> Substr:
    """The basename of a row's path: the expression the name index is built on."""
    return Substr(F("path"), F("name_at"))  # type: ignore[arg-type]  # F is an expression


class SearchFile(models.Model):
    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="+")
    path = models.TextField(help_text="'/' + the path in the text form of lib.names")
    name_at = models.IntegerField(help_text="1-based start of the basename in path")
    type = models.CharField(max_length=1, help_text="the tar entry type (lib.tarwalk)")
    size = models.BigIntegerField()
    sha256 = models.BinaryField(max_length=32, help_text="b'' but for regular files")

    class Meta:
        indexes = [
            models.Index(name_of(), name="searchfile_name"),
            models.Index(fields=["sha256"], name="searchfile_sha256"),
        ]

    def __str__(self) -> str:
        return self.path
