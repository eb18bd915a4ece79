"""A directory's change rows as the index stores them: packed column by column.

Names and kinds are stored beside the blob (readable by the database, and enough for a path
search to count its matches without unpacking anything); ``CHANGE_SCHEMA`` packs the rest of
each ``changes.ChangeRow`` with ``packing``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

from . import packing
from .changes import ChangeRow

# Every field of a row but dir, name and kind (stored beside the blob), depth (the layer the
# rows are read for) and shown_size (a listing's).
CHANGE_SCHEMA = packing.Schema(
    (
        ("detail", packing.TEXT),
        ("type", packing.TEXT),
        ("size", packing.INT),
        ("mode", packing.INT),
        ("uid", packing.INT),
        ("gid", packing.INT),
        ("mtime", packing.INT),
        ("link", packing.TEXT),
        ("digest", packing.DIGEST),
        ("seq", packing.NINT),
        ("prev_depth", packing.NINT),
        ("prev_size", packing.NINT),
        ("tree_bytes", packing.INT),
        ("tree_files", packing.INT),
        ("layer_bytes", packing.INT),
        ("flags", packing.INT),
        ("xattrs", packing.JSON),
        ("sub_added", packing.INT),
        ("sub_modified", packing.INT),
        ("sub_deleted", packing.INT),
    )
)
_PACKED = CHANGE_SCHEMA.names
_FIELDS = operator.attrgetter(*_PACKED)
NAME_SEPARATOR = "/"  # no name holds one


def pack_rows(rows: Sequence[ChangeRow]) -> tuple[str, str, bytes]:
    """The names ("/"-joined), the kinds (a letter each) and the blob of one directory's rows
    (sorted by name)."""
    columns = dict(zip(_PACKED, zip(*map(_FIELDS, rows), strict=True), strict=True))
    names_ = NAME_SEPARATOR.join(r.name for r in rows)
    return names_, "".join(r.kind for r in rows), packing.pack(CHANGE_SCHEMA, columns)


def unpack_rows(
    directory: str, names_: str, kinds: str, blob: bytes, depth: int
) -> list[ChangeRow]:
    """The rows ``pack_rows`` stored for ``directory`` of the layer at ``depth``."""
    columns = packing.unpack(CHANGE_SCHEMA, blob)
    listed = names_.split(NAME_SEPARATOR) if names_ else []
    if not len(listed) == len(kinds) == packing.count_of(blob):
        raise packing.PackError(f"the stored listing of {directory or '/'} is damaged")
    # ``values`` are the packed fields, in ChangeRow's order of them (CHANGE_SCHEMA's); mypy
    # cannot count a starred list, so it sees too many arguments.
    return [
        ChangeRow(directory, name, kind, *values, depth)  # type: ignore[call-arg]
        for name, kind, *values in zip(listed, kinds, *(columns[f] for f in _PACKED), strict=True)
    ]
