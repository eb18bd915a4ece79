"""Text from images stored escaped (``lib.stored_text``), so PostgreSQL can hold NUL and
lone surrogates: the fields change class (no schema change) and the rows already stored are
rewritten in the escaped form, so that reading them back gives what they held."""

import json

from django.db import migrations

import layerviz.images.fields
from layerviz.lib import stored_text

TEXT = {
    "images_historystep": ("created", "created_by", "comment", "author"),
    "images_image": ("author", "source"),
    "images_imagelayer": ("member",),
    "images_ingestjob": ("source", "upload", "error"),
}
JSON = {
    "images_analysis": ("advice",),
    "images_chain": ("notes",),
    "images_image": ("config", "manifest"),
    "images_ingestjob": ("options", "phase_args"),
    "images_layer": ("flags",),
}


def _rewrite(schema_editor, text_fn, json_fn):
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    cast = "::text" if connection.vendor == "postgresql" else ""
    as_json = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        for table, columns in [
            *((t, (c, False)) for t, cs in TEXT.items() for c in cs),
            *((t, (c, True)) for t, cs in JSON.items() for c in cs),
        ]:
            column, is_json = columns
            cursor.execute(f"SELECT id, {quote(column)}{cast} FROM {quote(table)}")
            changed = []
            for pk, value in cursor.fetchall():
                if value is None:
                    continue
                if is_json:
                    # Compared as values: JSON text may differ in spacing alone.
                    old = json.loads(value)
                    converted = json_fn(old)
                    if converted != old:
                        changed.append((json.dumps(converted), pk))
                elif text_fn(value) != value:
                    changed.append((text_fn(value), pk))
            mark = f"%s{as_json}" if is_json else "%s"
            cursor.executemany(
                f"UPDATE {quote(table)} SET {quote(column)} = {mark} WHERE id = %s", changed
            )


def escape_rows(apps, schema_editor):
    _rewrite(schema_editor, stored_text.escape, stored_text.escape_json)


def unescape_rows(apps, schema_editor):
    _rewrite(schema_editor, stored_text.unescape, stored_text.unescape_json)


class Migration(migrations.Migration):
    dependencies = [
        ("images", "0006_progress_and_notes_as_codes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="analysis",
            name="advice",
            field=layerviz.images.fields.ImageJSONField(default=list),
        ),
        migrations.AlterField(
            model_name="chain",
            name="notes",
            field=layerviz.images.fields.ImageJSONField(blank=True, default=list),
        ),
        migrations.AlterField(
            model_name="historystep",
            name="author",
            field=layerviz.images.fields.ImageTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="historystep",
            name="comment",
            field=layerviz.images.fields.ImageTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="historystep",
            name="created",
            field=layerviz.images.fields.ImageTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="historystep",
            name="created_by",
            field=layerviz.images.fields.ImageTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="image",
            name="author",
            field=layerviz.images.fields.ImageTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="image",
            name="config",
            field=layerviz.images.fields.ImageJSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="image",
            name="manifest",
            field=layerviz.images.fields.ImageJSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="image",
            name="source",
            field=layerviz.images.fields.ImageTextField(
                blank=True, help_text="where it was first ingested from"
            ),
        ),
        migrations.AlterField(
            model_name="imagelayer",
            name="member",
            field=layerviz.images.fields.ImageTextField(
                blank=True, help_text="its name in the archive it came from, if any"
            ),
        ),
        migrations.AlterField(
            model_name="ingestjob",
            name="error",
            field=layerviz.images.fields.ImageTextField(blank=True),
        ),
        migrations.AlterField(
            model_name="ingestjob",
            name="options",
            field=layerviz.images.fields.ImageJSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="ingestjob",
            name="phase_args",
            field=layerviz.images.fields.ImageJSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="ingestjob",
            name="source",
            field=layerviz.images.fields.ImageTextField(),
        ),
        migrations.AlterField(
            model_name="ingestjob",
            name="upload",
            field=layerviz.images.fields.ImageTextField(
                blank=True, help_text="path of an uploaded archive to delete after"
            ),
        ),
        migrations.AlterField(
            model_name="layer",
            name="flags",
            field=layerviz.images.fields.ImageJSONField(blank=True, default=list),
        ),
        migrations.RunPython(escape_rows, unescape_rows),
    ]
