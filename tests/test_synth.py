"""The archive writer used by tests, benchmarks and demo data (``layerviz.lib.synth`` and its
tar encoder ``layerviz.lib.tarwriter``): its bytes are reproducible, its digests real, and its
layouts what Docker and containerd write. Checked with independent readers (``tarfile``,
``json``, ``hashlib``), not with our own."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from layerviz.lib import oci, synth, tarwriter
from layerviz.lib.tarwriter import directory, file, symlink, whiteout

LAYERS = [
    synth.layer([file("etc/os-release", b"ID=synth\n"), symlink("bin/sh", "busybox")]),
    synth.layer([file("app/main.py", b"print(1)\n"), whiteout("etc/os-release")]),
]


def members(data: bytes) -> dict[str, tarfile.TarInfo | bytes]:
    """Name -> content (files) or TarInfo (anything else), read with Python's tarfile."""
    out: dict[str, tarfile.TarInfo | bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        for member in tf:
            reader = tf.extractfile(member) if member.isfile() else None
            out[member.name] = reader.read() if reader else member
    return out


def test_the_same_description_gives_the_same_bytes(tmp_path):
    image = synth.Image(LAYERS, compression=["gzip", "zstd"], tags=["lv/app:1"])
    for layout in ("legacy", "docker25", "containerd"):
        first = synth.write_docker_archive(tmp_path / "1.tar", [image], layout=layout)
        second = synth.write_docker_archive(tmp_path / "2.tar", [image], layout=layout)
        assert first.read_bytes() == second.read_bytes()


def test_parents_are_added_before_their_first_child_unless_listed():
    tar = synth.layer([file("a/b/c", b"1"), directory("a/b", mode=0o700)])
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        listed = [(m.name, m.mode) for m in tf]
    assert listed == [("a", 0o755), ("a/b/c", 0o644), ("a/b", 0o700)]


def test_every_blob_of_a_layout_hashes_to_its_name_and_descriptors_match(tmp_path):
    index = synth.ImageIndex(
        [synth.Image(LAYERS, compression="gzip"), synth.Image(LAYERS, architecture="arm64")],
        tags=["lv/multi:1"],
        attestations=True,
    )
    path = synth.write_oci_layout(tmp_path / "l.tar", [index], as_tar=True)
    files = members(path.read_bytes())
    blobs = {k: v for k, v in files.items() if k.startswith("blobs/sha256/")}
    for name, data in blobs.items():
        assert name == "blobs/sha256/" + hashlib.sha256(data).hexdigest()

    def described(descriptor: dict) -> dict:
        data = blobs["blobs/" + descriptor["digest"].replace(":", "/")]
        assert len(data) == descriptor["size"]
        return json.loads(data) if descriptor["mediaType"].endswith("json") else {}

    (top,) = json.loads(files["index.json"])["manifests"]
    assert top["annotations"] == {oci.REF_NAME: "lv/multi:1"}
    nested = described(top)["manifests"]
    assert [d["platform"]["architecture"] for d in nested] == [
        "amd64",
        "arm64",
        "unknown",
        "unknown",
    ]
    assert nested[2]["annotations"][oci.ATTESTATION_ANNOTATION] == "attestation-manifest"
    assert nested[2]["annotations"]["vnd.docker.reference.digest"] == nested[0]["digest"]
    for descriptor in nested:
        manifest = described(descriptor)
        config = described(manifest["config"])
        for layer in manifest["layers"]:
            described(layer)
        if descriptor["platform"]["os"] == "linux":
            diff_ids = [synth.sha256(t) for t in LAYERS]
            assert config["rootfs"] == {"type": "layers", "diff_ids": diff_ids}


def test_a_legacy_save_links_a_repeated_layer_and_names_images_like_docker():
    images = [synth.Image([LAYERS[0], LAYERS[1], LAYERS[0]], tags=["lv/app:1", "python:3"])]
    files = members(tarwriter.tar(synth.legacy_entries(images), parents=True))
    (item,) = json.loads(files["manifest.json"])
    assert item["RepoTags"] == ["lv/app:1", "python:3"]
    first, _, third = item["Layers"]
    assert files[first] == LAYERS[0]
    link = files[third]
    assert isinstance(link, tarfile.TarInfo) and link.issym()
    assert link.linkname == "../" + first
    assert set(json.loads(files["repositories"])) == {"lv/app", "python"}
    config = files[item["Config"]]
    assert item["Config"] == hashlib.sha256(config).hexdigest() + ".json"


def test_a_docker25_save_is_an_oci_layout_of_uncompressed_blobs_sorted_before_index_json():
    image = synth.Image(LAYERS, compression="gzip", tags=["lv/app:1"])
    data = tarwriter.tar(synth.docker25_entries([image]), parents=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = [m.name for m in tf]
    assert names.index("index.json") > max(i for i, n in enumerate(names) if n.startswith("blobs"))
    files = members(data)
    (entry,) = json.loads(files["index.json"])["manifests"]
    assert entry["annotations"] == {
        oci.CONTAINERD_NAME: "docker.io/lv/app:1",
        oci.REF_NAME: "1",
    }
    (item,) = json.loads(files["manifest.json"])
    assert [files[name] for name in item["Layers"]] == LAYERS


def test_a_containerd_save_can_leave_platforms_out_and_names_one_in_manifest_json():
    index = synth.ImageIndex(
        [
            synth.Image(LAYERS, compression="zstd"),
            synth.Image(LAYERS[:1], architecture="arm64", variant="v8", compression="gzip"),
        ],
        tags=["lv/multi:1"],
    )
    built = index.build()
    files = members(
        tarwriter.tar(synth.containerd_entries([index], platform="linux/arm64"), parents=True)
    )
    (item,) = json.loads(files["manifest.json"])
    assert item["Config"] == built.images[1].config.path
    assert files[item["Layers"][0]][:3] == b"\x1f\x8b\x08"  # stored as pulled: gzip
    kept = synth.containerd_entries([index], omit=["linux/arm64"])
    paths = {e.path.decode() for e in kept}
    assert built.images[1].manifest.path not in paths
    assert built.images[0].manifest.path in paths
    assert built.index.path in paths


@pytest.mark.parametrize("fmt", ["pax", "gnu"])
def test_names_that_do_not_fit_ustar_get_the_formats_long_name_headers(fmt):
    long = "d/" * 80 + "file"
    with tarfile.open(fileobj=io.BytesIO(synth.layer([file(long, b"x")], fmt=fmt))) as tf:
        assert [m.name for m in tf][-1] == long


def test_ustar_refuses_what_it_cannot_hold():
    with pytest.raises(ValueError, match="does not fit the ustar format"):
        synth.layer([file("x" * 101)], fmt="ustar", parents=False)
