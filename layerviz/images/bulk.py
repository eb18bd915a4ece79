"""Fast inserts for the big tables (packed entries and changes).

``bulk_create`` prepares every value of every row through the ORM, about 100 µs a row. These
inserts send plain tuples: one ``executemany`` per batch on SQLite, one ``COPY`` on PostgreSQL
(psycopg's ``executemany`` costs 30-60 µs a row there, ``COPY`` a few), inside one transaction.
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
    # by name or attname ("layer" or "layer_id"), as get_field takes them, but only columns
    concrete = {key: f for f in meta.concrete_fields for key in (f.name, f.attname)}
    columns = [concrete[name] for name in fields]
    json_at = [i for i, field in enumerate(columns) if isinstance(field, models.JSONField)]
    if json_at:
        rows = [_with_json(row, json_at) for row in rows]
    db_columns = [f.column for f in columns]
    assert all(db_columns), "a concrete field always has a column"
    names = ", ".join(quote(c) for c in db_columns if c)
    if connection.vendor == "postgresql":
        sql = f"COPY {quote(meta.db_table)} ({names}) FROM STDIN"
        with transaction.atomic(), connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("%s" for _ in columns)
    sql = f"INSERT INTO {quote(meta.db_table)} ({names}) VALUES ({marks})"
    with transaction.atomic(), connection.cursor() as cursor:
        # A generator streams the rows: the backends iterate, they need no list of them all.
        cursor.executemany(sql, rows)  # type: ignore[arg-type]


def _with_json(row: Sequence[object], positions: list[int]) -> tuple:
    values = list(row)
    for i in positions:
        values[i] = None if values[i] is None else json.dumps(values[i])
    return tuple(values)
