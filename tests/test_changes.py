"""Stacking layers into a merged view (``layerviz.lib.merged.MergedTree``), following the OCI
layer rules (``image-format.md`` §2), and saying what each layer did to every path."""

from __future__ import annotations

import io

import pytest

from layerviz.lib import changes, names, synth
from layerviz.lib.changes import (
    ADDED,
    BY_OPAQUE,
    BY_REPLACEMENT,
    BY_WHITEOUT,
    CONTENT,
    DELETED,
    IDENTICAL,
    METADATA,
    MODIFIED,
    PARENT,
    TYPE,
    UNCHANGED,
    ChangeRow,
    LayerSummary,
)
from layerviz.lib.layer import EntryBatch, scan_layer
from layerviz.lib.merged import MergedTree
from layerviz.lib.tarwriter import directory, file, hardlink, opaque, symlink, whiteout

from . import builder


def entries(tar: bytes, batch: int = 5000) -> list[EntryBatch]:
    """What the indexer hands MergedTree: the layer's entries in batches, as stored."""
    batches: list[EntryBatch] = []
    scan_layer(io.BytesIO(tar), digest=None, size=None, on_entries=batches.append, batch=batch)
    return batches


def stack(*layers: bytes) -> tuple[MergedTree, list[dict[str, ChangeRow]], list[LayerSummary]]:
    tree = MergedTree()
    rows, summaries = [], []
    for tar in layers:
        changes = tree.apply_layer(entries(tar))
        rows.append(changes.rows())
        summaries.append(changes.summary)
    return tree, rows, summaries


def kinds(rows: dict[str, ChangeRow]) -> dict[str, str]:
    return {path: row.kind + row.detail for path, row in rows.items()}


BASE = synth.layer(
    [
        file("etc/motd", b"hello"),
        file("etc/conf/a", b"aaaa"),
        file("etc/conf/b", b"bb"),
        file("bin/tool", b"1234567", mode=0o755),
    ]
)


def test_the_first_layer_adds_every_path_with_directory_aggregates():
    _tree, (rows,), (summary,) = stack(BASE)
    assert set(kinds(rows).values()) == {ADDED}
    assert (rows["etc"].tree_bytes, rows["etc"].tree_files) == (11, 3)
    assert (rows["etc/conf"].tree_bytes, rows["etc/conf"].tree_files) == (6, 2)
    assert rows["etc/motd"].layer_bytes == 5
    assert (summary.added, summary.added_bytes) == (4, 18)
    assert (summary.total_bytes, summary.total_files) == (18, 4)


def test_a_whiteout_deletes_a_lower_file():
    tree, (_, rows), (_, summary) = stack(BASE, synth.layer([whiteout("etc/motd")]))
    assert kinds(rows)["etc/motd"] == DELETED + BY_WHITEOUT
    assert "etc/motd" not in tree.nodes
    assert ".wh.motd" not in " ".join(tree.nodes)  # the marker itself is never a file
    assert (summary.deleted, summary.deleted_bytes) == (1, 5)
    assert summary.total_bytes == 13


def test_a_whiteout_of_a_directory_is_expanded_to_every_path_it_removed():
    _tree, (_, rows), (_, summary) = stack(BASE, synth.layer([whiteout("etc/conf")]))
    assert {p: k for p, k in kinds(rows).items() if k[0] == DELETED} == {
        "etc/conf": DELETED + BY_WHITEOUT,
        "etc/conf/a": DELETED + BY_WHITEOUT,
        "etc/conf/b": DELETED + BY_WHITEOUT,
    }
    assert (rows["etc/conf"].tree_bytes, rows["etc/conf"].tree_files) == (6, 2)
    assert (summary.deleted, summary.deleted_bytes) == (2, 6)
    assert (rows["etc"].tree_bytes, rows["etc"].tree_files) == (5, 1)


@pytest.mark.parametrize("whiteout_first", [True, False])
def test_a_whiteout_never_hides_a_file_of_its_own_layer(whiteout_first):
    pair = [whiteout("etc/motd"), file("etc/motd", b"new motd")]
    upper = synth.layer(pair if whiteout_first else pair[::-1])
    tree, (_, rows), _ = stack(BASE, upper)
    assert kinds(rows)["etc/motd"] == MODIFIED + CONTENT
    assert tree.nodes["etc/motd"].size == 8


def test_a_whiteout_of_a_path_added_in_the_same_layer_hides_nothing():
    _tree, (rows,), (summary,) = stack(synth.layer([file("x", b"1"), whiteout("x")]))
    assert kinds(rows)["x"] == ADDED
    assert summary.notes == [{"code": changes.WHITEOUT_FINDS_NOTHING, "path": "x"}]


def test_a_whiteout_for_a_missing_path_is_a_noted_no_op():
    _, (_, rows), (_, summary) = stack(BASE, synth.layer([whiteout("nope")]))
    assert "nope" not in rows
    assert summary.notes == [{"code": changes.WHITEOUT_FINDS_NOTHING, "path": "nope"}]


def test_aufs_metadata_entries_are_skipped():
    tree, (rows,), _ = stack(builder.names_layer(b".wh..wh.plnk/1.2", b"a"))
    assert set(tree.nodes) == {"a"}
    assert set(rows) == {"a"}


@pytest.mark.parametrize("marker_first", [True, False])
def test_an_opaque_marker_applies_first_wherever_it_stands(marker_first):
    parts = [opaque("etc/conf"), file("etc/conf/c", b"ccc")]
    upper = synth.layer(parts if marker_first else parts[::-1])
    tree, (_, rows), (_, summary) = stack(BASE, upper)
    assert kinds(rows)["etc/conf/a"] == DELETED + BY_OPAQUE
    assert kinds(rows)["etc/conf/b"] == DELETED + BY_OPAQUE
    assert kinds(rows)["etc/conf/c"] == ADDED
    assert sorted(tree.children["etc/conf"]) == ["etc/conf/c"]
    assert (summary.added, summary.deleted) == (1, 2)


def test_opaque_markers_before_and_after_siblings_and_nested_across_three_layers():
    tree, (_, middle, top), _ = stack(*builder.opaque_layers())
    expected = {
        "a/old1": DELETED + BY_OPAQUE,
        "a/old2": DELETED + BY_OPAQUE,
        "a/new": ADDED,
        "b/old": DELETED + BY_OPAQUE,
        "b/new": ADDED,  # the marker after it in the tar still hides only lower files
        "n/x/deep": DELETED + BY_OPAQUE,
        "n/x/mid": ADDED,
    }
    assert {path: kinds(middle).get(path) for path in expected} == expected
    assert "n/keep" not in middle  # outside the opaque directory
    assert kinds(top)["n/keep"] == DELETED + BY_OPAQUE
    assert kinds(top)["n/x/mid"] == DELETED + BY_OPAQUE  # from the middle layer, now lower
    assert kinds(top)["n/x/top"] == ADDED
    assert sorted(tree.nodes) == ["a", "a/new", "b", "b/new", "n", "n/x", "n/x/top"]


def test_an_opaque_marker_on_a_directory_that_does_not_exist_below_does_nothing():
    _, (_, rows), (_, summary) = stack(BASE, synth.layer([opaque("new"), file("new/f", b"1")]))
    assert kinds(rows)["new/f"] == ADDED
    assert summary.deleted == 0


def test_re_adding_a_file_tells_content_type_metadata_and_identical_apart():
    upper = synth.layer(
        [
            file("etc/motd", b"HELLO"),  # same size, other bytes
            file("etc/conf/a", b"aaaa", mode=0o600),
            file("etc/conf/b", b"bb"),  # byte-identical re-emit
            symlink("bin/tool", "busybox"),
        ]
    )
    _, (_, rows), (_, summary) = stack(BASE, upper)
    assert kinds(rows)["etc/motd"] == MODIFIED + CONTENT
    assert kinds(rows)["etc/conf/a"] == MODIFIED + METADATA
    assert kinds(rows)["etc/conf/b"] == UNCHANGED + IDENTICAL
    assert kinds(rows)["bin/tool"] == MODIFIED + TYPE
    assert rows["etc/motd"].prev_depth == 0
    assert rows["etc/motd"].prev_size == 5
    assert summary.modified == 3


def test_an_mtime_change_alone_is_a_metadata_change_for_files_but_not_for_directories():
    upper = synth.layer([directory("etc", mtime=1), file("etc/motd", b"hello", mtime=1)])
    _, (_, rows), _ = stack(BASE, upper)
    assert kinds(rows)["etc/motd"] == MODIFIED + METADATA
    assert kinds(rows)["etc"] == UNCHANGED + PARENT


def test_a_directory_with_new_attributes_is_a_metadata_change():
    _, (_, rows), _ = stack(BASE, synth.layer([directory("etc", mode=0o700)]))
    assert kinds(rows)["etc"] == MODIFIED + METADATA


def test_every_directory_above_a_change_gets_a_row_marked_implicit_when_it_has_no_entry():
    upper = synth.layer([file("etc/conf/a", b"changed")], parents=False)
    _, (_, rows), _ = stack(BASE, upper)
    assert kinds(rows) == {
        "etc/conf/a": MODIFIED + CONTENT,
        "etc/conf": UNCHANGED + PARENT,
        "etc": UNCHANGED + PARENT,
    }
    assert rows["etc"].flags & changes.IMPLICIT
    assert (rows["etc"].tree_bytes, rows["etc"].layer_bytes) == (14, 7)


def test_a_missing_parent_directory_is_created_like_a_runtime_would():
    tree, (rows,), _ = stack(synth.layer([file("a/b/c", b"x")], parents=False))
    assert kinds(rows) == {"a": ADDED, "a/b": ADDED, "a/b/c": ADDED}
    assert tree.nodes["a/b"].mode == 0o755
    assert rows["a/b"].flags & changes.IMPLICIT


def test_a_file_replaced_by_a_directory_and_a_directory_replaced_by_a_file():
    tree, (_, rows), (_, summary) = stack(*builder.replacement_layers())
    assert kinds(rows)["was-file"] == MODIFIED + TYPE
    assert kinds(rows)["was-file/inside"] == ADDED
    assert kinds(rows)["was-dir"] == MODIFIED + TYPE
    assert kinds(rows)["was-dir/child"] == DELETED + BY_REPLACEMENT
    assert tree.nodes["was-dir"].type == "0"
    assert (summary.total_bytes, summary.total_files) == (19, 2)


def test_duplicate_paths_in_one_layer_keep_the_last_entry():
    tree, (rows,), (summary,) = stack(builder.duplicate_paths_layer())
    assert tree.nodes["dup"].size == len(b"second, longer")
    assert rows["dup"].seq == 2
    assert summary.added == 1


def test_hardlinks_are_resolved_or_flagged():
    tree, (_, rows), (_, summary) = stack(*builder.hardlink_layers())
    assert rows["same/link"].flags == 0
    assert rows["same/link"].sha256 == tree.nodes["same/data"].sha256 != ""
    assert rows["to-lower"].flags == 0
    assert rows["to-lower"].sha256 == tree.nodes["lower/data"].sha256
    assert rows["dangling"].flags == changes.HARDLINK_DANGLING
    assert rows["forward"].flags == changes.HARDLINK_FORWARD
    assert rows["to-dir"].flags == changes.HARDLINK_TO_DIR
    # A hardlink is size 0 in the tar: its bytes are counted once, at the target.
    assert summary.added_bytes == len(b"same layer bytes") + len(b"appears after its link")


def test_a_parent_symlink_from_a_lower_layer_is_flagged_and_shadowed_by_a_directory():
    tree, (_, rows), _ = stack(*builder.parent_symlink_layers())
    assert kinds(rows)["etc"] == MODIFIED + TYPE
    assert rows["etc"].flags == changes.IMPLICIT | changes.PARENT_SYMLINK
    assert tree.nodes["etc"].type == "5"
    assert "etc/passwd" in tree.nodes


def test_a_directory_removed_by_an_opaque_marker_and_needed_as_a_parent_is_new():
    lower = synth.layer([file("n/x/deep", b"1")])
    upper = synth.layer([opaque("n"), file("n/x/top", b"2")], parents=False)
    tree, (_, rows), _ = stack(lower, upper)
    assert kinds(rows)["n/x"] == ADDED
    assert kinds(rows)["n/x/deep"] == DELETED + BY_OPAQUE
    assert tree.nodes["n/x"].depth == 1


def test_non_utf8_names_are_kept_in_their_reversible_text_form():
    tree, _, _ = stack(builder.non_utf8_layer())
    assert names.from_text(next(p for p in tree.nodes if p.endswith(".txt"))) == builder.NON_UTF8


def test_xattr_changes_are_metadata_changes():
    lower = synth.layer([file("bin/ping", b"p")])
    upper = synth.layer([file("bin/ping", b"p", xattrs={"security.capability": b"\x01"})])
    _, (_, rows), _ = stack(lower, upper)
    assert kinds(rows)["bin/ping"] == MODIFIED + METADATA
    assert rows["bin/ping"].xattrs == {"security.capability": "01"}


SCENARIOS = {
    "whiteouts": [BASE, synth.layer([whiteout("etc/conf"), whiteout("etc/motd")])],
    "re-adds": [
        BASE,
        synth.layer([whiteout("etc/motd"), file("etc/motd", b"x"), directory("bin", mtime=9)]),
    ],
    "opaque": builder.opaque_layers(),
    "opaque, parent re-made": [
        synth.layer([file("n/x/deep", b"1"), file("n/y", b"2")]),
        synth.layer([opaque("n"), file("n/x/top", b"3")], parents=False),
        synth.layer([file("n/x/later", b"4")], parents=False),
    ],
    "hardlinks": builder.hardlink_layers(),
    "parent symlink": builder.parent_symlink_layers(),
    "replacement": builder.replacement_layers(),
    "directories re-emitted": [
        synth.layer([file("d/f", b"1", mtime=1)]),
        synth.layer([directory("d", mtime=5), file("d/g", b"2")]),
        synth.layer([file("d/h", b"3")], parents=False),
    ],
    "everything": [
        BASE,
        *builder.hardlink_layers(),
        *builder.opaque_layers(),
        *builder.replacement_layers(),
        synth.layer([whiteout("lower"), hardlink("etc/conf/link", "etc/conf/a")]),
    ],
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_replaying_stored_rows_reproduces_the_state_apply_layer_left(scenario):
    applied, replayed = MergedTree(), MergedTree()
    later_rows = []
    for depth, tar in enumerate(SCENARIOS[scenario]):
        rows = list(applied.apply_layer(entries(tar)).rows().values())
        replayed.replay(rows, depth)
        assert replayed.nodes == applied.nodes
        assert replayed.children == applied.children
        assert replayed.tree_bytes == applied.tree_bytes
        assert replayed.tree_files == applied.tree_files
        later_rows.append(rows)
    # A chain built on a replayed base must get the same rows as one built from scratch.
    extra = synth.layer([file("etc/new", b"n"), file("d/i", b"i")])
    from_scratch = applied.apply_layer(entries(extra))
    on_replayed = replayed.apply_layer(entries(extra))
    assert from_scratch.rows() == on_replayed.rows()
    assert from_scratch.summary == on_replayed.summary
