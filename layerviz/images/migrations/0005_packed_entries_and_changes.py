# Entries and changes move from one row per path to packed rows (a chunk of a layer's entries,
# a chain's changes a directory at a time): the index shrinks to under a third of its size and
# ingest writes a few rows per thousand paths. Existing rows are converted, not dropped.

import itertools

import django.db.models.deletion
from django.db import migrations, models

from layerviz.lib.changes import ChangeRow
from layerviz.lib.packed_changes import pack_rows, unpack_rows
from layerviz.lib.layer import EntryBatch

CHUNK = 5000
CHANGE_FIELDS = (
    "kind", "detail", "type", "size", "mode", "uid", "gid", "mtime", "link", "sha256",
    "seq", "prev_depth", "prev_size", "tree_bytes", "tree_files", "layer_bytes", "flags",
    "xattrs", "sub_added", "sub_modified", "sub_deleted",
)  # fmt: skip


def _digest(hex_text):
    return bytes.fromhex(hex_text) if hex_text else b""


def _batched(rows, size):
    rows = iter(rows)
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def pack_existing(apps, schema_editor):
    """1. every layer's Entry rows, in seq order, become EntryChunk rows of CHUNK entries
    (the data offset was not recorded then: 0 means unknown);
    2. every chain's Change rows, a directory at a time in name order, become DirChanges."""
    Layer = apps.get_model("images", "Layer")
    Entry = apps.get_model("images", "Entry")
    EntryChunk = apps.get_model("images", "EntryChunk")
    Chain = apps.get_model("images", "Chain")
    Change = apps.get_model("images", "Change")
    DirChanges = apps.get_model("images", "DirChanges")
    entry_fields = ("seq", "path", "raw", "type", "size", "mode", "uid", "gid", "mtime", "link")
    for layer_id in Layer.objects.values_list("pk", flat=True).iterator():
        rows = (
            Entry.objects.filter(layer_id=layer_id)
            .order_by("seq")
            .values_list(*entry_fields, "sha256", "flags", "xattrs")
            .iterator(chunk_size=CHUNK)
        )
        for index, chunk in enumerate(_batched(rows, CHUNK)):
            batch = EntryBatch(chunk[0][0])
            for seq, path, raw, typ, size, mode, uid, gid, mtime, link, sha, flags, xattrs in chunk:
                for column, value in (
                    ("path", path),
                    ("raw", raw),
                    ("type", typ),
                    ("size", size),
                    ("mode", mode),
                    ("uid", uid),
                    ("gid", gid),
                    ("mtime", mtime),
                    ("link", link),
                    ("sha256", _digest(sha)),
                    ("flags", flags),
                    ("xattrs", xattrs),
                    ("offset", 0),
                ):
                    getattr(batch, column).append(value)
            EntryChunk.objects.create(
                layer_id=layer_id,
                index=index,
                first_seq=batch.first_seq,
                count=len(batch),
                data=batch.pack(),
            )
    fields = CHANGE_FIELDS
    for chain_id, depth in Chain.objects.values_list("pk", "depth").iterator():
        rows = (
            Change.objects.filter(chain_id=chain_id)
            .order_by("dir", "name")
            .values_list("dir", "name", *fields)
            .iterator(chunk_size=CHUNK)
        )
        for directory, group in itertools.groupby(rows, key=lambda values: values[0]):
            changes = []
            for values in group:
                row = dict(zip(("dir", "name", *fields), values, strict=True))
                row["digest"] = _digest(row.pop("sha256"))
                changes.append(ChangeRow(**row, depth=depth))
            changes.sort(key=lambda r: r.name)
            names, kinds, blob = pack_rows(changes)
            DirChanges.objects.create(
                chain_id=chain_id,
                depth=depth,
                dir=directory,
                names=names,
                kinds=kinds,
                count=len(changes),
                data=blob,
            )


def unpack_to_rows(apps, schema_editor):
    """Back to one row per entry and per change (for going back to 0004)."""
    Entry = apps.get_model("images", "Entry")
    EntryChunk = apps.get_model("images", "EntryChunk")
    Change = apps.get_model("images", "Change")
    DirChanges = apps.get_model("images", "DirChanges")
    for chunk in EntryChunk.objects.order_by("layer_id", "index").iterator(chunk_size=16):
        batch = EntryBatch.unpack(chunk.first_seq, chunk.data)
        Entry.objects.bulk_create(
            Entry(
                layer_id=chunk.layer_id,
                seq=r.seq,
                path=batch.path[i],
                raw=batch.raw[i],
                type=r.type,
                size=r.size,
                mode=r.mode,
                uid=r.uid,
                gid=r.gid,
                mtime=r.mtime,
                link=batch.link[i],
                sha256=r.sha256,
                flags=r.flags,
                xattrs=r.xattrs,
            )
            for i, r in enumerate(batch.records())
        )
    for listing in DirChanges.objects.iterator(chunk_size=100):
        rows = unpack_rows(
            listing.dir, listing.names, listing.kinds, bytes(listing.data), listing.depth
        )
        Change.objects.bulk_create(
            Change(
                chain_id=listing.chain_id,
                depth=listing.depth,
                dir=row.dir,
                name=row.name,
                **{f: (row.sha256 if f == "sha256" else getattr(row, f)) for f in CHANGE_FIELDS},
            )
            for row in rows
        )


class Migration(migrations.Migration):
    dependencies = [
        ("images", "0004_reference_per_platform"),
    ]

    operations = [
        migrations.CreateModel(
            name="DirChanges",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "depth",
                    models.SmallIntegerField(
                        help_text="copy of chain.depth, for merged-view queries"
                    ),
                ),
                (
                    "dir",
                    models.TextField(
                        help_text="the directory, in the text form of lib.names (root: '')"
                    ),
                ),
                ("names", models.TextField()),
                (
                    "kinds",
                    models.TextField(help_text="the change kind of each name, a letter each"),
                ),
                ("count", models.IntegerField()),
                ("data", models.BinaryField()),
                (
                    "chain",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="dirs",
                        to="images.chain",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="EntryChunk",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("index", models.IntegerField(help_text="0, 1, … in tar order")),
                (
                    "first_seq",
                    models.IntegerField(help_text="tar position (1-based) of the first entry"),
                ),
                ("count", models.IntegerField()),
                ("data", models.BinaryField()),
                (
                    "layer",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="entry_chunks",
                        to="images.layer",
                    ),
                ),
            ],
        ),
        migrations.AddConstraint(
            model_name="dirchanges",
            constraint=models.UniqueConstraint(fields=("chain", "dir"), name="dirchanges_path"),
        ),
        migrations.AddConstraint(
            model_name="entrychunk",
            constraint=models.UniqueConstraint(
                fields=("layer", "index"), name="entrychunk_layer_index"
            ),
        ),
        migrations.RunPython(pack_existing, unpack_to_rows, elidable=True),
        migrations.DeleteModel(name="Change"),
        migrations.DeleteModel(name="Entry"),
    ]
