"""Our layer numbers against the real ``dive`` binary, on synthetic ``docker save`` archives.

For each layer, ``Layer.size`` must equal dive's ``sizeBytes`` and ``Layer.entry_count`` must
equal ``len(fileList)``, except where the two legitimately count different things; those cases
are documented where the expected value is computed, and the documented relation is asserted.
"""

from __future__ import annotations

import pytest

from layerviz.images import packed
from layerviz.images.ingest import ingest
from layerviz.images.models import Layer
from layerviz.lib import layer as flags
from layerviz.lib import synth
from layerviz.lib.changes import ancestors
from layerviz.lib.tarwriter import directory, file, hardlink, opaque, symlink, whiteout

from . import builder
from .dive import dive_json

pytestmark = [pytest.mark.django_db, pytest.mark.dive]

BASE = synth.layer(
    [
        file("etc/motd", b"welcome\n"),
        file("etc/conf/a.conf", b"a" * 300),
        file("etc/conf/b.conf", b"b" * 200),
        file("var/cache/apt/pkgcache.bin", b"p" * 4000),
        file("usr/bin/tool", b"\x7fELF" + b"t" * 1000, mode=0o755),
        symlink("usr/bin/alias", "tool"),
        directory("tmp", mode=0o1777),
    ]
)

SCENARIOS = {
    "whiteouts and opaque directories": [
        BASE,
        synth.layer(
            [
                whiteout("etc/motd"),
                whiteout("etc/conf"),  # a whole directory
                opaque("var/cache"),  # before its re-added sibling
                file("var/cache/new", b"n" * 10),
                file("var/lib/state", b"s" * 20),
                opaque("var/lib"),  # after its sibling
                file(".wh..wh.plnk/12.34", b"aufs hardlink target"),
            ]
        ),
    ],
    "duplicates and links": [
        BASE,
        synth.layer(
            [
                file("app/config", b"first version"),
                file("app/config", b"second, longer version"),
                directory("app"),
                hardlink("app/same-layer", "app/config"),
                hardlink("app/lower-layer", "usr/bin/tool"),
                symlink("app/dir-link", "/etc"),
                directory("app/data", mode=0o700, uid=1000, gid=1000),
            ]
        ),
        *builder.hardlink_layers(),
    ],
    "missing parent directories": [
        BASE,
        synth.layer([file("opt/vendor/lib/deep.so", b"d" * 50)], parents=False),
        synth.layer([file("etc/conf/c.conf", b"c"), whiteout("usr/bin/alias")], parents=False),
    ],
    "a layer repeated in one image": [BASE, synth.layer([file("app/x", b"x")]), BASE],
}


def dive_file_count(layer: Layer) -> int:
    """How many nodes dive's tree of ``layer`` has, from our entries.

    dive's ``fileList`` is its file tree of the layer, not the tar's entry list:
    * it drops ``.wh..wh..opq`` markers at parse time (we keep them: they delete files);
    * a path given twice in the tar is one node (we keep both entries, flagged duplicate);
    * every parent directory the tar does not list is a node of its own (listed with an
      empty path); we record only what the tar holds.
    """
    entries = [
        (path, f)
        for batch in packed.entry_batches(layer.pk)
        for path, f in zip(batch.path, batch.flags, strict=True)
    ]
    kept = [(path, f) for path, f in entries if not f & flags.OPAQUE]
    paths = {path for path, _ in kept}
    duplicates = sum(1 for _, f in kept if f & flags.DUPLICATE)
    implicit = {a for path in paths for a in ancestors(path)} - paths
    return len(kept) - duplicates + len(implicit)


@pytest.mark.parametrize("layout", ["legacy", "docker25"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_layer_sizes_and_entry_counts_match_dive(dive, tmp_path, scenario, layout):
    layers = SCENARIOS[scenario]
    archive = synth.write_docker_archive(
        tmp_path / "image.tar", [synth.Image(layers, tags=["lv/parity:1"])], layout=layout
    )
    (image,) = ingest(f"docker-archive:{archive}")
    ours = [il.layer for il in image.layers_in_order()]
    theirs = dive_json(archive, tmp_path / "dive.json")["layer"]
    assert [d["digestId"] for d in theirs] == [layer.diff_id for layer in ours]

    seen = set()
    for layer, dive_layer in zip(ours, theirs, strict=True):
        repeated = layer.diff_id in seen
        seen.add(layer.diff_id)
        if layout == "legacy" and repeated:
            # A legacy save stores a repeated layer once and makes the other copy a
            # layer.tar symlink; dive 0.13 reads the symlink's own (empty) data as the layer
            # tar, so it shows an empty layer where the image really has the full one again.
            assert (dive_layer["sizeBytes"], dive_layer["fileList"]) == (0, [])
            assert layer.entry_count > 0
            continue
        assert layer.size == dive_layer["sizeBytes"]
        assert dive_file_count(layer) == len(dive_layer["fileList"])


def test_without_odd_entries_the_entry_count_is_dives_file_count(dive, tmp_path):
    archive = synth.write_docker_archive(
        tmp_path / "plain.tar", [synth.Image([BASE], tags=["lv/plain:1"])], layout="docker25"
    )
    (image,) = ingest(f"docker-archive:{archive}")
    (dive_layer,) = dive_json(archive, tmp_path / "dive.json")["layer"]
    layer = image.layers_in_order().get().layer
    assert layer.entry_count == len(dive_layer["fileList"]) == 14
    assert layer.size == dive_layer["sizeBytes"] == 8 + 300 + 200 + 4000 + 1004
