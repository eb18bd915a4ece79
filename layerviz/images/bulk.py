"""Fast inserts for the two big tables (entries and changes).

``bulk_create`` prepares every value of every row through the ORM, about 100 µs a row; a layer
of 100,000 files would spend seconds there. These inserts send plain tuples through one
``executemany`` per batch, inside one transaction, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from django.db import connection, models, transaction


def insert(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[object]]
) -> None:
    """Insert ``rows`` (tuples in ``fields`` order; JSON fields as Python values)."""
    meta = model._meta
    quote = connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    json_at = [i for i, field in enumerate(columns) if isinstance(field, models.JSONField)]
    marks = []
    for field in columns:
        is_json = isinstance(field, models.JSONField)
        marks.append("%s::jsonb" if is_json and connection.vendor == "postgresql" else "%s")
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in columns)}) "
        f"VALUES ({', '.join(marks)})"
    )
    if json_at:
        rows = [_with_json(row, json_at) for row in rows]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _with_json(row: Sequence[object], positions: list[int]) -> tuple:
    values = list(row)
    for i in positions:
        values[i] = None if values[i] is None else json.dumps(values[i])
    return tuple(values)
