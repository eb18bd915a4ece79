"""A path written more than once in one layer (#11.9), through a real ingest: the stored change
rows and the chain's counts judge each path against the layers *below* only; the layer's own
earlier entries are not below (``image-format.md`` §2: last entry wins, a non-directory
replaces the old path, opaque markers and whiteouts first and only against lower layers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from layerviz.images import packed
from layerviz.lib import synth
from layerviz.lib.merged import MergedTree
from layerviz.lib.tarwriter import Entry, directory, file, opaque, whiteout

from .helpers import ingest_image
from .test_changes import entries

pytestmark = pytest.mark.django_db


def layer(*parts: Entry) -> bytes:
    return synth.layer(list(parts), parents=False)


NOTHING_BELOW = layer(file("other", b"o"))

# name: (the layer below, the layer, its rows as kind + detail, (added, modified, deleted) files)
CASES = {
    "d/, d/child, then a file d; no d below": (
        NOTHING_BELOW,
        layer(directory("d"), file("d/child", b"c"), file("d", b"D")),
        {"d": "A"},
        (1, 0, 0),
    ),
    "d/, d/child, then a file d; a directory d below": (
        layer(directory("d"), file("d/x", b"x")),
        layer(directory("d"), file("d/child", b"c"), file("d", b"D")),
        {"d": "Mt", "d/x": "Dr"},
        (0, 1, 1),
    ),
    "f, then f/inside; no f below": (
        NOTHING_BELOW,
        layer(file("f", b"1"), file("f/inside", b"i")),
        {"f": "A", "f/inside": "A"},
        (1, 0, 0),
    ),
    # The layer's own f replaced the lower f before f/inside needed a directory there: the
    # runtime makes a new one, as after a whiteout of f.
    "f, then f/inside; a file f below": (
        layer(file("f", b"0")),
        layer(file("f", b"1"), file("f/inside", b"i")),
        {"f": "A", "f/inside": "A"},
        (1, 0, 0),
    ),
    "f, then f/inside; a directory f below": (
        layer(directory("f"), file("f/y", b"y")),
        layer(file("f", b"1"), file("f/inside", b"i")),
        {"f": "A", "f/inside": "A", "f/y": "Dr"},
        (1, 0, 1),
    ),
    "the same path three times; nothing below": (
        NOTHING_BELOW,
        layer(file("p", b"1"), directory("p"), file("p", b"3")),
        {"p": "A"},
        (1, 0, 0),
    ),
    "the same path three times; a file below": (
        layer(file("p", b"0")),
        layer(file("p", b"1"), directory("p"), file("p", b"3")),
        {"p": "Mc"},
        (0, 1, 0),
    ),
    "the same file three times, the last identical to the one below": (
        layer(file("p", b"0")),
        layer(file("p", b"1"), file("p", b"22"), file("p", b"0")),
        {"p": "Ui"},
        (0, 0, 0),
    ),
    "a whiteout, the path, and the path again; a file below": (
        layer(file("w", b"0")),
        layer(file("w", b"1"), whiteout("w"), file("w", b"2")),
        {"w": "Mc"},
        (0, 1, 0),
    ),
    "an opaque marker after the directory's new children; children below": (
        layer(file("o/old", b"0"), file("o/kept", b"k")),
        layer(file("o/kept", b"k"), file("o/new", b"n"), file("o/new", b"nn"), opaque("o")),
        {"o": "Up", "o/old": "Do", "o/kept": "Ui", "o/new": "A"},
        (1, 0, 1),
    ),
}


def _image_rows(tmp_path: Path, below: bytes, top: bytes) -> tuple[dict[str, str], tuple]:
    image = ingest_image(tmp_path, "lv/twice:1", [below, top])
    chain = image.layers_in_order().last().chain
    rows = packed.chain_changes(chain.pk)
    return (
        {path: row.kind + row.detail for path, row in rows.items()},
        (chain.added, chain.modified, chain.deleted),
    )


@pytest.mark.parametrize("case", CASES)
def test_it_judges_a_path_written_twice_in_one_layer_against_the_layers_below_only(tmp_path, case):
    below, top, rows, counts = CASES[case]
    assert _image_rows(tmp_path, below, top) == (rows, counts)


@pytest.mark.parametrize("case", CASES)
def test_replaying_the_rows_of_such_a_layer_gives_the_tree_stacking_it_left(case):
    below, top, _, _ = CASES[case]
    applied, replayed = MergedTree(), MergedTree()
    for depth, tar in enumerate([below, top]):
        replayed.replay(list(applied.apply_layer(entries(tar)).rows().values()), depth)
        assert replayed.nodes == applied.nodes
        assert replayed.children == applied.children
