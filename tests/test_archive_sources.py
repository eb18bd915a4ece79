"""Ingesting archives and OCI layouts end to end (``layerviz.images.ingest.ingest``), with the
database: every ``docker save`` layout, OCI layouts as directories and tars, compressed archives
streamed, platform selection; and for hostile input, an error naming the problem with the
database left exactly as it was."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from layerviz.images import packed, progress
from layerviz.images.ingest import ingest
from layerviz.images.models import Blob, Chain, DirChanges, EntryChunk, Image, ImageLayer, Layer
from layerviz.images.progress import Progress
from layerviz.lib import changes, names, oci, synth, tarwalk, tarwriter
from layerviz.lib import layer as layer_flags
from layerviz.lib.errors import IngestError
from layerviz.lib.limits import Limits
from layerviz.lib.tarwriter import directory, file, symlink, whiteout
from layerviz.sources import SourceOptions

from . import builder

pytestmark = pytest.mark.django_db

BASE = synth.layer(
    [
        file("etc/os-release", b"ID=synth\n"),
        file("bin/busybox", b"B" * 3000, mode=0o755),
        symlink("bin/sh", "busybox"),
        directory("tmp", mode=0o1777),
    ]
)
APP = synth.layer([file("app/main.py", b"print('hello')\n"), whiteout("etc/os-release")])
EXTRA = synth.layer([file("app/extra.txt", b"extra")])
# More than the 1 MiB a stream keeps in memory, so it goes through the streaming path.
BIG = synth.layer([file("data/blob", bytes(range(256)) * 5000)])


def app_image(**kwargs: object) -> synth.Image:
    fields = {"layers": [BASE, APP], "tags": ["lv/app:1.0"], "cmd": ["/app/main.py"]}
    return synth.Image(**(fields | kwargs))  # type: ignore[arg-type]


def counts() -> dict[str, int]:
    models = (Image, Layer, EntryChunk, Chain, DirChanges, Blob)
    return {m.__name__: m.objects.count() for m in models}


class Recorder(Progress):
    """Keeps every phase the indexer announces: which layers it actually read."""

    def __init__(self) -> None:
        super().__init__()
        self.read: list[int] = []

    def phase(
        self, code: str, *, layer: int | None = None, layers: int | None = None, **args: str
    ) -> None:
        super().phase(code, layer=layer, layers=layers, **args)
        if code == progress.READING and layer is not None:
            self.read.append(layer)


def check_app(image: Image, name: str = "docker.io/lv/app:1.0") -> None:
    """What every layout of ``app_image()`` must index."""
    assert image.layer_count == 2
    assert [r.name for r in image.references.all()] == [name]
    assert image.config["Cmd"] == ["/app/main.py"]
    layers = [il.layer for il in image.layers_in_order()]
    assert [layer.diff_id for layer in layers] == [synth.sha256(BASE), synth.sha256(APP)]
    assert [layer.entry_count for layer in layers] == [6, 4]
    assert image.size == 3009 + 15
    top = image.layers_in_order().last().chain
    assert top.deleted == 1
    assert packed.chain_changes(top.pk)["etc/os-release"].kind == "D"


@pytest.mark.parametrize("layout", ["legacy", "docker25", "containerd"])
def test_it_ingests_every_docker_save_layout(tmp_path, layout):
    image = app_image(compression="gzip")
    path = synth.write_docker_archive(tmp_path / "app.tar", [image], layout=layout)
    (row,) = ingest(f"docker-archive:{path}")
    check_app(row)
    assert row.manifest_synthesized == (layout == "legacy")
    # Docker's classic store (legacy, docker25) keeps layers uncompressed whatever was pulled.
    compression = "gzip" if layout == "containerd" else "none"
    if layout != "legacy":
        stored = dataclasses.replace(image, compression=compression)
        assert row.digest == stored.build().manifest.digest
    assert {b.compression for b in Blob.objects.all()} == {compression}


def test_a_legacy_save_stores_a_repeated_layer_once_and_links_the_copy(tmp_path):
    image = synth.Image([BASE, APP, BASE], tags=["lv/twice:1"])
    entries = synth.legacy_entries([image])
    links = [e for e in entries if e.type == tarwalk.SYMLINK]
    assert len(links) == 1
    assert links[0].link.startswith(b"../") and links[0].link.endswith(b"/layer.tar")
    (row,) = ingest(f"docker-archive:{synth.write_tar(tmp_path / 'x.tar', entries)}")
    assert [il.layer.diff_id for il in row.layers_in_order()] == [
        synth.sha256(BASE),
        synth.sha256(APP),
        synth.sha256(BASE),
    ]
    assert Layer.objects.count() == 2
    assert Chain.objects.count() == 3


@pytest.mark.parametrize("as_tar", [False, True])
@pytest.mark.parametrize("compression", ["none", "gzip", "zstd", ["zstd", "gzip"]])
def test_it_ingests_oci_layouts_with_any_layer_compression(tmp_path, as_tar, compression):
    image = app_image(compression=compression)
    path = synth.write_oci_layout(tmp_path / "layout", [image], as_tar=as_tar)
    transport = "oci-archive" if as_tar else "oci"
    (row,) = ingest(f"{transport}:{path}")
    check_app(row)
    assert row.digest == image.build().manifest.digest


def test_an_oci_layout_names_an_image_by_each_of_its_tags(tmp_path):
    path = synth.write_oci_layout(
        tmp_path / "layout", [app_image(tags=["lv/app:1.0", "lv/app:latest", "latest"])]
    )
    (row,) = ingest(f"oci:{path}")
    # A bare "latest" names no repository, so it cannot become a reference.
    assert sorted(r.name for r in row.references.all()) == [
        "docker.io/lv/app:1.0",
        "docker.io/lv/app:latest",
    ]


def test_a_ref_after_the_path_picks_one_image_of_a_layout(tmp_path):
    other = synth.Image([BASE, EXTRA], tags=["lv/other:2"])
    path = synth.write_oci_layout(tmp_path / "layout", [app_image(), other], as_tar=True)
    (row,) = ingest(f"oci-archive:{path}:lv/other:2")
    assert row.digest == other.build().manifest.digest
    assert Image.objects.count() == 1


def test_a_docker_manifest_schema_2_image_is_read_too(tmp_path):
    image = app_image(media_types="docker", compression="gzip")
    path = synth.write_oci_layout(tmp_path / "layout", [image])
    (row,) = ingest(f"oci:{path}")
    assert row.media_type == oci.DOCKER_MANIFEST
    check_app(row)


@pytest.mark.parametrize("outer", ["gzip", "zstd"])
@pytest.mark.parametrize("layout", ["legacy", "docker25", "containerd"])
def test_a_compressed_docker_save_is_streamed_in_one_pass(tmp_path, outer, layout):
    image = synth.Image([BASE, BIG, APP], tags=["lv/big:1"])
    plain = synth.write_docker_archive(tmp_path / "plain.tar", [image], layout=layout)
    packed = synth.write_docker_archive(
        tmp_path / "packed.tar", [image], layout=layout, compression=outer
    )
    (streamed,) = ingest(f"docker-archive:{packed}")
    assert streamed.layer_count == 3
    assert [il.layer.entry_count for il in streamed.layers_in_order()] == [6, 2, 4]
    # The same archive read in place gives the same image: nothing more is indexed.
    before = counts()
    (in_place,) = ingest(f"docker-archive:{plain}")
    assert in_place.pk == streamed.pk
    assert counts() == before


def test_a_big_json_blob_beside_the_image_is_passed_over_when_streaming(tmp_path):
    # Exporters add documents of their own (an SBOM, attestations); one over the JSON cap
    # is not the image's business and must not stop a streamed ingest.
    image = synth.Image([BASE, BIG, APP], tags=["lv/sbom:1"])
    plain = synth.write_docker_archive(tmp_path / "plain.tar", [image], layout="docker25")
    sbom = b'{"spdxVersion": "SPDX-2.3", "packages": [' + b'{"name": "x"},' * 400_000 + b"{}]}"
    assert len(sbom) > 4 * 1024 * 1024
    extended = io.BytesIO()
    with tarfile.open(plain) as src, tarfile.open(fileobj=extended, mode="w") as out:
        for member in src.getmembers():
            out.addfile(member, src.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo(f"blobs/sha256/{hashlib.sha256(sbom).hexdigest()}")
        info.size = len(sbom)
        out.addfile(info, io.BytesIO(sbom))
    packed = tmp_path / "packed.tar.gz"
    packed.write_bytes(gzip.compress(extended.getvalue(), compresslevel=1))

    (streamed,) = ingest(f"docker-archive:{packed}")

    assert streamed.layer_count == 3
    assert [il.layer.entry_count for il in streamed.layers_in_order()] == [6, 2, 4]


def test_a_streamed_archive_keeps_only_the_layers_of_the_image_it_was_asked_for(tmp_path):
    # A stream is read once, in the archive's order: big layers of every platform are
    # indexed as they pass, before the manifests say which are wanted.
    other = synth.layer([file("data/blob", bytes(range(255, -1, -1)) * 5000)])
    index = synth.ImageIndex(
        images=[
            synth.Image([BASE, BIG], architecture="amd64"),
            synth.Image([BASE, other], architecture="arm64"),
        ],
        tags=["lv/two:1"],
    )
    packed = synth.write_docker_archive(
        tmp_path / "two.tar", [index], layout="containerd", compression="gzip"
    )

    (arm,) = ingest(f"docker-archive:{packed}", platform="linux/arm64")

    assert arm.platform == "linux/arm64"
    assert set(Layer.objects.values_list("pk", flat=True)) == {
        link.layer_id for link in arm.image_layers.all()
    }


def test_without_platform_the_host_platform_of_a_multi_platform_image_is_chosen(tmp_path):
    host = oci.host_platform()
    images = [
        app_image(architecture="s390x"),
        app_image(architecture=host.architecture, variant=host.variant, layers=[BASE, EXTRA]),
    ]
    index = synth.ImageIndex(images, tags=["lv/multi:1"])
    path = synth.write_docker_archive(tmp_path / "m.tar", [index], layout="containerd")
    (row,) = ingest(f"docker-archive:{path}")
    assert (row.os, row.architecture) == ("linux", host.architecture)
    assert row.index_digest == index.build().index.digest


def multi_platform(**kwargs: object) -> synth.ImageIndex:
    return synth.ImageIndex(
        [
            app_image(),
            app_image(architecture="arm64", variant="v8", layers=[BASE, EXTRA]),
            app_image(architecture="arm", variant="v7", layers=[BASE]),
        ],
        tags=["lv/multi:1"],
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("platform", "arch", "layers"),
    [("linux/arm64", "arm64", [BASE, EXTRA]), ("linux/arm/v7", "arm", [BASE])],
)
def test_platform_picks_one_image_of_a_nested_index(tmp_path, platform, arch, layers):
    path = synth.write_docker_archive(tmp_path / "m.tar", [multi_platform()], layout="containerd")
    (row,) = ingest(f"docker-archive:{path}", platform=platform)
    assert row.architecture == arch
    assert [il.layer.diff_id for il in row.layers_in_order()] == [synth.sha256(t) for t in layers]


def test_platform_picks_one_image_of_an_oci_layout_index(tmp_path):
    path = synth.write_oci_layout(tmp_path / "m", [multi_platform()])
    (row,) = ingest(f"oci:{path}", platform="linux/aarch64")
    assert row.architecture == "arm64"


def test_attestation_manifests_are_never_chosen(tmp_path):
    index = multi_platform(attestations=True)
    built = index.build()
    entries = synth.containerd_entries([index])
    assert len(built.attestation_blobs) == 9  # a manifest, config and statement per platform
    path = synth.write_tar(tmp_path / "m.tar", entries)
    (row,) = ingest(f"docker-archive:{path}", platform="linux/amd64")
    assert row.digest == built.images[0].manifest.digest
    with pytest.raises(IngestError, match="has no image for platform unknown/unknown"):
        ingest(f"docker-archive:{path}", platform="unknown/unknown")


def test_blobs_missing_for_platforms_not_chosen_are_tolerated(tmp_path):
    index = multi_platform()
    path = synth.write_docker_archive(
        tmp_path / "m.tar", [index], layout="containerd", omit=["linux/arm64", "linux/arm/v7"]
    )
    (row,) = ingest(f"docker-archive:{path}", platform="linux/amd64")
    check_app(row, "docker.io/lv/multi:1")
    before = counts()
    with pytest.raises(IngestError, match=r"manifest sha256:[0-9a-f]{12} .*is missing"):
        ingest(f"docker-archive:{path}", platform="linux/arm64")
    assert counts() == before


def test_ingesting_the_same_archive_twice_changes_nothing(tmp_path):
    path = synth.write_docker_archive(tmp_path / "a.tar", [app_image()], layout="docker25")
    (first,) = ingest(f"docker-archive:{path}")
    before = counts()
    progress = Recorder()
    (second,) = ingest(f"docker-archive:{path}", progress=progress)
    assert second.pk == first.pk
    assert counts() == before
    assert progress.read == []


@pytest.mark.parametrize("layout", ["legacy", "docker25"])
def test_a_second_image_on_the_same_base_indexes_only_its_new_layers(tmp_path, layout):
    first = synth.write_docker_archive(tmp_path / "1.tar", [app_image()], layout=layout)
    ingest(f"docker-archive:{first}")
    base = Layer.objects.get(diff_id=synth.sha256(BASE))
    layers_before, chains_before = Layer.objects.count(), Chain.objects.count()

    second = synth.Image([BASE, APP, EXTRA], tags=["lv/app:2.0"])
    path = synth.write_docker_archive(tmp_path / "2.tar", [second], layout=layout)
    progress = Recorder()
    (row,) = ingest(f"docker-archive:{path}", progress=progress)
    assert progress.read == [3]
    assert progress.done == len(EXTRA)  # bytes read: the new layer's only
    assert Layer.objects.count() == layers_before + 1
    assert Chain.objects.count() == chains_before + 1
    assert Layer.objects.get(pk=base.pk).indexed_at == base.indexed_at
    assert row.layers_in_order().first().layer == base


def test_non_utf8_names_survive_the_round_trip(tmp_path):
    image = synth.Image([builder.non_utf8_layer()], tags=["lv/latin:1"])
    path = synth.write_docker_archive(tmp_path / "n.tar", [image], layout="docker25")
    (row,) = ingest(f"docker-archive:{path}")
    layer = row.layers_in_order().get().layer
    records = packed.entry_records(layer.pk)
    assert builder.NON_UTF8 in {e.path for e in records}
    (link,) = [e for e in records if e.type == tarwalk.SYMLINK]
    assert link.link == builder.NON_UTF8


def test_odd_but_valid_layers_are_indexed_with_their_flags(tmp_path):
    odd_names = builder.names_layer(b"/abs/file", b"../../etc/escape", b".wh..wh.plnk/1.2")
    sparse = builder.gnu_sparse(apparent=10 * builder.GiB)
    global_header = builder.pax_global_header({"path": b"evil", "size": b"0"})
    pax_dir = builder.pax_dir_hiding_an_entry()
    hard_lower, hard_upper = builder.hardlink_layers()
    symlink_lower, symlink_upper = builder.parent_symlink_layers()
    layers = [
        BASE,
        hard_lower,
        hard_upper,
        *builder.opaque_layers(),
        symlink_lower,
        symlink_upper,
        *builder.replacement_layers(),
        odd_names,
        builder.duplicate_paths_layer(),
        sparse,
        global_header,
        pax_dir,
    ]
    image = synth.Image(layers, tags=["lv/odd:1"])
    path = synth.write_docker_archive(tmp_path / "odd.tar", [image], layout="docker25")
    (row,) = ingest(f"docker-archive:{path}")
    assert row.layer_count == len(layers)
    by_diff = {il.layer.diff_id: il for il in row.layers_in_order()}

    def entry_paths(tar: bytes) -> list[str]:
        layer = by_diff[synth.sha256(tar)].layer
        return [names.to_text(e.path) for e in packed.entry_records(layer.pk)]

    names_layer = by_diff[synth.sha256(odd_names)].layer
    assert layer_flags.FLAG_CODES[layer_flags.CLAMPED] in names_layer.flags
    entries = {e.path: e for e in packed.entry_records(names_layer.pk)}
    assert entries[b"etc/escape"].raw == b"../../etc/escape"
    assert entries[b".wh..wh.plnk/1.2"].flags == layer_flags.AUFS_META

    sparse_layer = by_diff[synth.sha256(sparse)].layer
    assert sparse_layer.size == 10 * builder.GiB + 1
    assert layer_flags.FLAG_CODES[layer_flags.SPARSE] in sparse_layer.flags

    # What a runtime unpacks, not what Python's tarfile would list.
    assert entry_paths(global_header) == ["a", "b"]
    assert entry_paths(pax_dir) == ["evil", "hidden"]

    dangling = packed.chain_changes(by_diff[synth.sha256(hard_upper)].chain_id)["dangling"]
    assert dangling.flags == changes.HARDLINK_DANGLING

    etc = packed.chain_changes(by_diff[synth.sha256(symlink_upper)].chain_id)["etc"]
    assert (etc.kind, etc.detail, etc.type) == ("M", "t", "5")
    assert etc.flags & changes.PARENT_SYMLINK


# --- hostile input -----------------------------------------------------------------------------

GOOD = synth.layer([file("lib/good.so", b"good")])  # new, so a failed run has something to undo


def hostile_image(bad: bytes) -> synth.Image:
    return synth.Image([BASE, GOOD, bad], tags=["lv/bad:1"])


def docker25(image: synth.Image) -> Callable[[Path], str]:
    return lambda tmp: (
        f"docker-archive:{synth.write_docker_archive(tmp / 'a.tar', [image], layout='docker25')}"
    )


def legacy(image: synth.Image) -> Callable[[Path], str]:
    return lambda tmp: f"docker-archive:{synth.write_docker_archive(tmp / 'a.tar', [image])}"


def members(entries: Callable[[], list[tarwriter.Entry]], transport: str = "docker-archive"):
    return lambda tmp: f"{transport}:{synth.write_tar(tmp / 'a.tar', entries())}"


def blobs(tars: list[bytes], media_type: str):
    """An OCI archive of ``hostile_image`` layers stored as exactly these blobs."""

    def write(tmp: Path) -> str:
        image = synth.Image([BASE, GOOD, tars[0]])
        stored = [BASE, GOOD, tars[1]]
        entries = builder.layout_with_layer_blobs(image, stored, media_type)
        return f"oci-archive:{synth.write_tar(tmp / 'a.tar', entries)}"

    return write


def truncated_blob(cut: Callable[[bytes], bytes]):
    """A Docker 25 save whose last layer blob is cut short (the manifest has the full one)."""
    tar = synth.layer([file("f0", b"a" * 512), file("f1", b"b" * 512), file("f2", b"c" * 512)])
    image = hostile_image(tar)
    blob = image.build().layers[-1]
    return members(lambda: builder.replaced(synth.docker25_entries([image]), blob.path, cut(tar)))


def cut_archive(compression: str = "none"):
    """A Docker 25 save (compressed whole or not) cut in half, inside the big layer's blob."""

    def write(tmp: Path) -> str:
        image = hostile_image(BIG)
        path = synth.write_docker_archive(
            tmp / "a.tar", [image], layout="docker25", compression=compression
        )
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return f"docker-archive:{path}"

    return write


def huge_member(tmp: Path) -> str:
    """A Docker 25 save led by a member claiming 2**63 - 1 bytes (a base-256 size), more than
    any file can hold or be seeked over."""
    path = synth.write_docker_archive(tmp / "a.tar", [hostile_image(GOOD)], layout="docker25")
    path.write_bytes(tarwriter.header(b"huge", size=2**63 - 1, gnu=True) + path.read_bytes())
    return f"docker-archive:{path}"


def empty_index(entries: list[tarwriter.Entry]) -> list[tarwriter.Entry]:
    """``entries`` with an ``index.json`` listing nothing, as Docker 25.0.0-25.0.2 wrote for
    ``docker save img@digest`` (moby#47294)."""
    return builder.edited_json(entries, "index.json", lambda doc: doc | {"manifests": []})


def fan_out(width: int) -> list[tarwriter.Entry]:
    """An OCI layout whose ``index.json`` lists one nested index ``width`` times, and that index
    lists ``width`` manifests: a few hundred kilobytes naming ``width**2`` manifests."""
    manifests = [
        {"mediaType": oci.OCI_MANIFEST, "digest": synth.sha256(b"%d" % i), "size": 2}
        for i in range(width)
    ]
    nested = synth.Blob.of(
        synth.dump({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": manifests}),
        oci.OCI_INDEX,
    )
    index = {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": [nested.descriptor()]}
    index["manifests"] *= width
    return [
        file(nested.path, nested.data),
        file("index.json", synth.dump(index)),
        file("oci-layout", synth.dump({"imageLayoutVersion": "1.0.0"})),
    ]


def config_edited(edit: Callable[[dict], dict]):
    """An OCI archive of ``hostile_image`` whose config is ``edit(config)``, digests made to
    match: only the config's content is wrong."""

    def write(tmp: Path) -> str:
        built = hostile_image(EXTRA).build()
        config = synth.Blob.of(
            synth.dump(edit(json.loads(built.config.data))), built.config.media_type
        )
        manifest = synth.manifest(config, built.layers)
        entries = builder.layout_with(manifest, [config, *built.layers])
        return f"oci-archive:{synth.write_tar(tmp / 'a.tar', entries)}"

    return write


def settings_edited(**settings: object):
    return config_edited(lambda doc: doc | {"config": doc["config"] | settings})


def layer_size(size: int):
    """An OCI archive of ``hostile_image`` whose manifest gives the top layer ``size``."""

    def write(tmp: Path) -> str:
        built = hostile_image(EXTRA).build()
        doc = json.loads(built.manifest.data)
        doc["layers"][-1]["size"] = size
        manifest = synth.Blob.of(synth.dump(doc), built.manifest.media_type)
        entries = builder.layout_with(manifest, [built.config, *built.layers])
        return f"oci-archive:{synth.write_tar(tmp / 'a.tar', entries)}"

    return write


GZ = synth.LAYER_MEDIA_TYPES["oci"]["gzip"]
ZST = synth.LAYER_MEDIA_TYPES["oci"]["zstd"]
SMALL = SourceOptions(limits=Limits(layer_bytes=builder.MiB))
LAYER_3 = r"layer 3/3 \(sha256:[0-9a-f]{12}…\): "
OTHER = synth.Image([EXTRA], tags=["lv/other:1"])

HOSTILE = {
    # parser differentials and broken tars (§5.1, §5.2)
    "pax path and gnu long name disagree": (
        docker25(hostile_image(builder.pax_path_and_gnu_long_name(b"a", b"b"))),
        LAYER_3 + "ambiguous entry name",
    ),
    "two pax headers": (docker25(hostile_image(builder.two_pax_headers())), LAYER_3 + "two PAX"),
    "single zero block": (
        docker25(hostile_image(builder.single_zero_block())),
        LAYER_3 + "a single zero block followed by more data",
    ),
    "garbage header": (
        docker25(hostile_image(builder.garbage_header())),
        LAYER_3 + "invalid checksum field",
    ),
    "truncated at a header boundary": (
        truncated_blob(lambda tar: tar[: 4 * 512]),
        LAYER_3 + r"blob is 2048 bytes but its descriptor says \d+ \(truncated\)",
    ),
    "truncated mid header": (
        truncated_blob(lambda tar: tar[: 4 * 512 + 100]),
        LAYER_3 + r"blob is truncated: 2148 of 4096 bytes \(.*in the middle of a header",
    ),
    "truncated mid data": (
        truncated_blob(lambda tar: tar[: 5 * 512 + 100]),
        LAYER_3 + r"blob is truncated: 2660 of 4096 bytes \(.*in the middle of entry data",
    ),
    "legacy layer cut at a header boundary": (
        members(lambda: builder.legacy_with_layer(hostile_image(EXTRA), 2, EXTRA[:1536])),
        LAYER_3 + "layer content hashes to sha256:.*, but the image config says",
    ),
    "legacy layer cut mid data": (
        members(lambda: builder.legacy_with_layer(hostile_image(EXTRA), 2, EXTRA[:1100])),
        LAYER_3 + "tar stream ends in the middle of entry data at offset 1100",
    ),
    "pax header bomb": (
        docker25(hostile_image(builder.pax_header_bomb())),
        LAYER_3 + "extended tar header of 2097152 bytes",
    ),
    "bad pax number": (
        docker25(hostile_image(builder.with_pax_record("mtime", b"1e400"))),
        LAYER_3 + "invalid numeric PAX record",
    ),
    "nul in a pax path": (
        docker25(hostile_image(builder.with_pax_record("path", b"a\x00b"))),
        LAYER_3 + "NUL byte in the PAX path record",
    ),
    "sparse sizes no disk holds": (
        docker25(hostile_image(builder.gnu_sparse(apparent=2**62))),
        LAYER_3 + r"entries claim more than \d+ bytes in one layer",
    ),
    "base-256 size beyond int64": (
        docker25(hostile_image(builder.gnu_sparse(apparent=2**70))),
        LAYER_3 + "realsize field out of range",
    ),
    # compression (§5.1, §5.3)
    "gzip trailer cut": (
        blobs([EXTRA, builder.gzip_cut_trailer(EXTRA)], GZ),
        LAYER_3 + "corrupt compressed data",
    ),
    "gzip bad crc": (
        blobs([EXTRA, builder.gzip_bad_crc(EXTRA)], GZ),
        LAYER_3 + "corrupt compressed data: CRC check failed",
    ),
    "gzip bomb": (
        blobs([builder.zeros_layer(4 * builder.MiB), builder.bomb(4 * builder.MiB, "gzip")], GZ),
        LAYER_3 + "layer expands past the 1048576-byte limit",
        SMALL,
    ),
    "zstd bomb": (
        blobs([builder.zeros_layer(4 * builder.MiB), builder.bomb(4 * builder.MiB, "zstd")], ZST),
        LAYER_3 + "layer expands past the 1048576-byte limit",
        SMALL,
    ),
    # names (§2.2, §7.6)
    "empty whiteout name": (
        docker25(hostile_image(builder.names_layer(b"etc/.wh."))),
        LAYER_3 + "invalid whiteout name 'etc/.wh.'",
    ),
    "whiteout of ..": (
        docker25(hostile_image(builder.names_layer(b"etc/.wh.."))),
        LAYER_3 + r"invalid whiteout name 'etc/\.wh\.\.'",
    ),
    "4097-byte path": (
        docker25(hostile_image(builder.names_layer(builder.long_path(4097)))),
        LAYER_3 + "entry name of 4097 bytes",
    ),
    # archives whose documents lie (§5.4, §1)
    "archive cut inside a member": (
        cut_archive(),
        r"the docker archive is truncated: it ends \d+ bytes short, inside 'blobs/sha256/",
    ),
    "member claiming 2**63 bytes": (
        huge_member,
        r"the docker archive is truncated: it ends \d+ bytes short, inside 'huge'",
    ),
    "gzip-compressed archive cut": (
        cut_archive("gzip"),
        "the gzip-compressed archive is corrupt: Compressed file ended before",
    ),
    "manifest.json pointing outside": (
        members(lambda: builder.manifest_pointing_outside(app_image())),
        "manifest.json names '../x', which points outside the archive",
    ),
    "duplicate manifest.json": (
        members(lambda: builder.duplicate_manifest(app_image(), OTHER)),
        "holds two members named 'manifest.json'",
    ),
    "layer blob not matching its name": (
        members(
            lambda: builder.blob_not_matching_its_name(
                hostile_image(synth.layer([file("x", b"hello")])), b"hello", b"jello"
            )
        ),
        LAYER_3 + "blob content hashes to sha256:.*, not to sha256:",
    ),
    "config blob not matching its name": (
        members(lambda: builder.config_not_matching_its_name(hostile_image(EXTRA))),
        r"config of manifest sha256:[0-9a-f]{12} hashes to",
    ),
    "config diff_id not the layer's (docker25)": (
        docker25(builder.lying_diff_ids(hostile_image(EXTRA), 2)),
        LAYER_3 + "layer content hashes to sha256:.*, but the image config says",
    ),
    "config diff_id not the layer's (legacy)": (
        legacy(builder.lying_diff_ids(hostile_image(EXTRA), 2)),
        LAYER_3 + "layer content hashes to sha256:.*, but the image config says",
    ),
    "fewer diff_ids than layers (docker25)": (
        docker25(builder.fewer_diff_ids(hostile_image(EXTRA))),
        "lists 3 layers but its config has 2 diff_ids",
    ),
    "fewer diff_ids than layers (legacy)": (
        legacy(builder.fewer_diff_ids(hostile_image(EXTRA))),
        "manifest.json lists 3 layers but the config has 2 diff_ids",
    ),
    "missing layer blob": (
        members(lambda: builder.missing_blob(hostile_image(EXTRA), 2)),
        LAYER_3 + r"'blobs/sha256/[0-9a-f]{64}' is not in the docker archive",
    ),
    "schema 1 manifest": (
        members(builder.schema1_layout, "oci-archive"),
        "the image 'x:1' lists no image manifest, only "
        + re.escape("application/vnd.docker.distribution.manifest.v1+prettyjws"),
    ),
    "schema 1 body behind a schema 2 descriptor": (
        members(builder.schema1_declared_as_docker_v2, "oci-archive"),
        "is a Docker schema 1 manifest",
    ),
    "helm chart artifact": (
        members(builder.artifact_layout, "oci-archive"),
        "is not a container image \\(it is a application/vnd.cncf.helm.config.v1\\+json",
    ),
    "an index fanning out to millions of manifests": (
        members(lambda: fan_out(2000), "oci-archive"),
        "the image indexes of the OCI archive list more than 50000 entries in all",
    ),
    "index.json listing nothing (OCI archive)": (
        members(lambda: empty_index(synth.oci_entries([app_image()])), "oci-archive"),
        "the OCI archive holds no image: its index.json lists nothing",
    ),
    "index.json listing nothing and no manifest.json": (
        members(
            lambda: builder.without(
                empty_index(synth.docker25_entries([app_image()])), "manifest.json"
            )
        ),
        "the docker archive holds no image: its index.json lists nothing",
    ),
    # JSON of the wrong type where the spec says what each field is (§1)
    "history a number": (
        config_edited(lambda doc: doc | {"history": 5}),
        r"history of image config sha256:[0-9a-f]{12} must be a list, not int",
    ),
    "history true": (
        config_edited(lambda doc: doc | {"history": True}),
        r"history of image config sha256:[0-9a-f]{12} must be a list, not bool",
    ),
    "history step not an object": (
        config_edited(lambda doc: doc | {"history": [5]}),
        r"history item 0 of image config sha256:[0-9a-f]{12} is not a JSON object",
    ),
    "created_by a list": (
        config_edited(lambda doc: doc | {"history": [{"created_by": ["RUN", "x"]}]}),
        "created_by of history item 0 of image config .* must be a string, not list",
    ),
    "empty_layer a string": (
        config_edited(lambda doc: doc | {"history": [{"empty_layer": "yes"}]}),
        "empty_layer of history item 0 of image config .* must be true or false",
    ),
    "created a number": (
        config_edited(lambda doc: doc | {"created": 1700000000}),
        "created of image config .* must be a string, not int",
    ),
    "diff_ids a string": (
        config_edited(
            lambda doc: doc | {"rootfs": {"type": "layers", "diff_ids": synth.sha256(BASE)}}
        ),
        "rootfs.diff_ids of image config .* must be a list, not str",
    ),
    "config a list": (
        config_edited(lambda doc: doc | {"config": ["Env"]}),
        "config of image config .* is not a JSON object",
    ),
    "Env a string": (
        settings_edited(Env="PATH=/bin"),
        "config.Env of image config .* must be a list of strings",
    ),
    "Env holding a number": (
        settings_edited(Env=["PATH=/bin", 5]),
        "config.Env of image config .* must be a list of strings",
    ),
    "Labels mapping to a number": (
        settings_edited(Labels={"version": 2}),
        "config.Labels of image config .* must be an object mapping strings to strings",
    ),
    "Cmd a string": (
        settings_edited(Cmd="/app/main.py"),
        "config.Cmd of image config .* must be a list of strings",
    ),
    "ExposedPorts a list": (
        settings_edited(ExposedPorts=["80/tcp"]),
        "config.ExposedPorts of image config .* must be an object",
    ),
    "layer size beyond int64": (
        layer_size(2**63),
        r"layer 3 of manifest sha256:[0-9a-f]{12} has an invalid size 9223372036854775808",
    ),
    "negative layer size": (
        layer_size(-1),
        r"layer 3 of manifest sha256:[0-9a-f]{12} has an invalid size -1",
    ),
}


def test_a_gzip_layer_padded_with_zeros_is_indexed_and_flagged(tmp_path):
    image = synth.Image([BASE, GOOD], tags=["lv/padded:1"])
    padded = tarwriter.compress(GOOD, "gzip") + bytes(4096)
    blobs = [tarwriter.compress(BASE, "gzip"), padded]
    path = synth.write_tar(tmp_path / "a.tar", builder.layout_with_layer_blobs(image, blobs, GZ))
    (row,) = ingest(f"oci-archive:{path}")
    flags = [il.layer.flags for il in row.layers_in_order()]
    assert flags == [[], [layer_flags.GZIP_PADDING]]


@pytest.fixture
def indexed_base(tmp_path) -> dict[str, int]:
    """The base image already indexed, so a failed run must leave real rows untouched."""
    path = synth.write_docker_archive(tmp_path / "base.tar", [synth.Image([BASE], tags=["b:1"])])
    ingest(f"docker-archive:{path}")
    return counts()


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_input_is_refused_by_name_and_leaves_the_database_unchanged(
    tmp_path, indexed_base, case
):
    write, message, *options = HOSTILE[case]
    spec = write(tmp_path)
    with pytest.raises(IngestError, match=message):
        ingest(spec, options=options[0] if options else None)
    assert counts() == indexed_base


def test_a_failed_run_removes_the_layers_it_had_already_indexed(tmp_path, indexed_base):
    spec = docker25(hostile_image(builder.garbage_header()))(tmp_path)
    progress = Recorder()
    with pytest.raises(IngestError):
        ingest(spec, progress=progress)
    assert progress.read == [2, 3]  # the good layer was read, then undone
    assert not Layer.objects.filter(diff_id=synth.sha256(GOOD)).exists()
    assert ImageLayer.objects.count() == 1


def test_the_same_archive_compressed_whole_is_refused_the_same_way(tmp_path, indexed_base):
    image = hostile_image(builder.single_zero_block())
    path = synth.write_docker_archive(
        tmp_path / "a.tar.gz", [image], layout="docker25", compression="gzip"
    )
    with pytest.raises(IngestError, match="a single zero block followed by more data"):
        ingest(f"docker-archive:{path}")
    assert counts() == indexed_base


def test_a_corrupt_compressed_archive_is_refused(tmp_path, indexed_base):
    path = synth.write_docker_archive(tmp_path / "a.tar", [app_image()], compression="gzip")
    path.write_bytes(
        builder.gzip_bad_crc(tarwriter.tar(synth.legacy_entries([app_image()]), parents=True))
    )
    with pytest.raises(IngestError, match="gzip-compressed archive is corrupt"):
        ingest(f"docker-archive:{path}")
    assert counts() == indexed_base


def test_an_archive_with_neither_index_nor_manifest_is_not_an_image(tmp_path, indexed_base):
    path = synth.write_tar(tmp_path / "a.tar", [file("readme.txt", b"hi")])
    with pytest.raises(IngestError, match=r"has neither index\.json nor manifest\.json"):
        ingest(f"docker-archive:{path}")
    assert counts() == indexed_base


def test_an_untagged_image_is_indexed_without_references(tmp_path):
    path = synth.write_docker_archive(
        tmp_path / "a.tar", [dataclasses.replace(app_image(), tags=[])], layout="docker25"
    )
    (row,) = ingest(f"docker-archive:{path}")
    assert row.references.count() == 0
    assert row.layer_count == 2


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_an_empty_index_json_beside_a_manifest_json_is_read_through_the_manifest_json(
    tmp_path, compression
):
    entries = empty_index(synth.docker25_entries([app_image()]))
    path = synth.write_tar(tmp_path / "a.tar", entries, compression=compression)
    (row,) = ingest(f"docker-archive:{path}")
    check_app(row)
    assert row.manifest_synthesized


def test_limits_are_read_from_the_environment_when_an_ingest_starts(tmp_path, monkeypatch):
    path = synth.write_docker_archive(tmp_path / "a.tar", [app_image()], layout="docker25")
    before = counts()
    monkeypatch.setenv("LAYERVIZ_MAX_ENTRIES_PER_LAYER", "5")
    with pytest.raises(IngestError, match=r"layer 1/2 \(.*\): more than 5 entries in one layer"):
        ingest(f"docker-archive:{path}")
    assert counts() == before

    monkeypatch.setenv("LAYERVIZ_MAX_ENTRIES_PER_LAYER", "6")
    (row,) = ingest(f"docker-archive:{path}")
    check_app(row)


def test_a_limit_set_to_something_not_a_number_is_named(monkeypatch):
    monkeypatch.setenv("LAYERVIZ_MAX_LAYER_BYTES", "64G")
    with pytest.raises(ValueError, match="LAYERVIZ_MAX_LAYER_BYTES must be a whole number"):
        SourceOptions()
