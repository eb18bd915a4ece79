"""Migration 0005 packs an existing index (one row per entry and per change) and can unpack
it again: nothing indexed before is lost."""

from __future__ import annotations

import io

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from layerviz.images import packed
from layerviz.lib import synth
from layerviz.lib.layer import EntryBatch, scan_layer
from layerviz.lib.merged import MergedTree
from layerviz.lib.tarwriter import file, symlink, whiteout

from . import builder

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("images", "0004_reference_per_platform")]
AFTER = [("images", "0005_packed_entries_and_changes")]


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def _layers() -> list[list[EntryBatch]]:
    tars = [
        synth.layer([file("etc/motd", b"hi"), symlink("bin/sh", "busybox")]),
        synth.layer([whiteout("etc/motd"), file("etc/x", b"x", mode=0o600)]),
        builder.non_utf8_layer(),
    ]
    out = []
    for tar in tars:
        batches: list[EntryBatch] = []
        scan_layer(io.BytesIO(tar), digest=None, size=None, on_entries=batches.append, batch=2)
        out.append(batches)
    return out


def test_rows_of_an_index_made_before_0005_are_packed_and_unpacked_unchanged():
    apps = _migrate(BEFORE)
    OldLayer, OldChain = apps.get_model("images", "Layer"), apps.get_model("images", "Chain")
    Entry, Change = apps.get_model("images", "Entry"), apps.get_model("images", "Change")
    tree = MergedTree()
    expected_entries, expected_changes = [], []
    parent = None
    for depth, batches in enumerate(_layers()):
        layer = OldLayer.objects.create(diff_id=f"sha256:{depth:064}", state="ready")
        records = [r for b in batches for r in b.records()]
        for b in batches:
            for i, r in enumerate(b.records()):
                Entry.objects.create(
                    layer=layer,
                    seq=r.seq,
                    path=b.path[i],
                    raw=b.raw[i],
                    type=r.type,
                    size=r.size,
                    mode=r.mode,
                    uid=r.uid,
                    gid=r.gid,
                    mtime=r.mtime,
                    link=b.link[i],
                    sha256=r.sha256,
                    flags=r.flags,
                    xattrs=r.xattrs,
                )
        chain = OldChain.objects.create(
            chain_id=f"sha256:{depth + 10:064}", parent=parent, layer=layer, depth=depth,
            state="ready",
        )  # fmt: skip
        rows = tree.apply_layer(batches).rows()
        for row in rows.values():
            Change.objects.create(
                chain=chain,
                depth=depth,
                **{f: getattr(row, f) for f in ("dir", "name", "kind", "detail", "type", "size")},
                **{f: getattr(row, f) for f in ("mode", "uid", "gid", "mtime", "link", "seq")},
                **{f: getattr(row, f) for f in ("prev_depth", "prev_size", "tree_bytes")},
                **{f: getattr(row, f) for f in ("tree_files", "layer_bytes", "flags", "xattrs")},
                **{f: getattr(row, f) for f in ("sub_added", "sub_modified", "sub_deleted")},
                sha256=row.sha256,
            )
        expected_entries.append([(r.seq, r.path, r.raw, r.type, r.size, r.sha256) for r in records])
        expected_changes.append(rows)
        parent = chain

    # The rows as of 0005 are looked up through its models: later migrations add columns.
    at_0005 = _migrate(AFTER)
    NewLayer, NewChain = at_0005.get_model("images", "Layer"), at_0005.get_model("images", "Chain")
    for depth in range(3):
        layer = NewLayer.objects.get(diff_id=f"sha256:{depth:064}")
        got = [
            (r.seq, r.path, r.raw, r.type, r.size, r.sha256) for r in packed.entry_records(layer.pk)
        ]
        assert got == expected_entries[depth]
        chain = NewChain.objects.get(chain_id=f"sha256:{depth + 10:064}")
        assert packed.chain_changes(chain.pk) == expected_changes[depth]

    apps = _migrate(BEFORE)  # and back: the rows come out as they went in
    Entry, Change = apps.get_model("images", "Entry"), apps.get_model("images", "Change")
    assert Entry.objects.count() == sum(len(e) for e in expected_entries)
    back = Change.objects.get(chain__chain_id=f"sha256:{11:064}", dir="etc", name="motd")
    assert (back.kind, back.detail, back.prev_size) == ("D", "w", 2)
    _migrate(_every_latest())


def _every_latest() -> list[tuple[str, str]]:
    """The latest migration of every app: going back to an old one of ``images`` took the
    other apps' migrations that depend on a later one back with it."""
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def test_image_text_stored_before_0007_reads_back_the_same_after_it_and_back_again():
    before = [("images", "0006_progress_and_notes_as_codes")]
    after = [("images", "0007_image_text_escaped")]
    apps = _migrate(before)
    OldImage = apps.get_model("images", "Image")
    OldStep = apps.get_model("images", "HistoryStep")
    # What SQLite held before: a backslash and a NUL as they were (PostgreSQL refused NUL, so
    # its old rows hold none).
    nul = "\x00" if connection.vendor == "sqlite" else ""
    created_by = f"RUN printf 'a\\\\b\\x00' {nul}"
    config = {"Env": [f"A=\\x00{nul}"], "Labels": {"back\\slash": "c:\\dir"}}
    image = OldImage.objects.create(
        digest="sha256:" + "1" * 64, image_id="sha256:" + "2" * 64, media_type="m", os="linux",
        architecture="amd64", config=config,
    )  # fmt: skip
    OldStep.objects.create(image=image, index=0, created_by=created_by)

    # Read through 0007's models, which have its fields (and no later columns).
    at_0007 = _migrate(after)
    Image, HistoryStep = (
        at_0007.get_model("images", "Image"),
        at_0007.get_model("images", "HistoryStep"),
    )

    assert Image.objects.get(pk=image.pk).config == config
    assert HistoryStep.objects.get(image_id=image.pk).created_by == created_by

    apps = _migrate(before)
    assert apps.get_model("images", "Image").objects.get(pk=image.pk).config == config
    step = apps.get_model("images", "HistoryStep").objects.get(image_id=image.pk)
    assert step.created_by == created_by
    _migrate(_every_latest())  # as the other tests expect the schema


def test_every_model_change_has_its_migration():
    # A model changed without its migration (an Analysis.VERSION bump changes a default) would
    # leave the database behind the code on the next deploy.
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out)
    except SystemExit:
        raise AssertionError(f"models changed without a migration:\n{out.getvalue()}") from None
