"""Images built by a real Docker engine, read through ``docker-daemon:`` and ``docker save``."""

from __future__ import annotations

import contextlib
import json
import subprocess
import tarfile

import pytest

from layerviz.adapters.docker_engine import pull_target
from layerviz.images import filesystem, packed
from layerviz.images.ingest import ingest
from layerviz.images.models import Image, Layer
from layerviz.lib import synth
from layerviz.lib.errors import IngestError, SourceError
from layerviz.lib.limits import Limits
from layerviz.lib.oci import host_platform
from layerviz.sources import SourceOptions
from layerviz.sources.docker_daemon import is_inspected
from layerviz.sources.files import TarFiles
from layerviz.sources.layouts import resolve_any

from . import components
from .dive import dive_json
from .registries import skopeo_binary

pytestmark = pytest.mark.django_db


def _layer_by_step(image: Image, text: str):
    step = image.history.get(created_by__contains=text)
    return image.layers_in_order().get(position=step.position)


def test_an_image_from_the_engine_has_every_layer_and_history_step(built_images, docker_engine):
    ref = built_images["teaching"]
    [image] = ingest(f"docker-daemon:{ref}")
    inspect = docker_engine.api.inspect_image(ref)

    assert [il.layer.diff_id for il in image.layers_in_order()] == inspect["RootFS"]["Layers"]
    assert image.image_id == inspect["Id"]
    assert "lv/teaching:1.0" in [r.display for r in image.references.all()]
    assert image.platform == str(host_platform())
    steps = list(image.history.all())
    metadata = [s for s in steps if s.empty_layer]
    assert {s.position for s in metadata} == {None}
    assert any("ENV APP_HOME=/app" in s.created_by for s in metadata)
    assert any("EXPOSE" in s.created_by for s in metadata)
    made = [s.position for s in steps if not s.empty_layer]
    assert made == list(range(image.layer_count))
    assert "APP_HOME=/app" in image.config["Env"]
    assert image.config["WorkingDir"] == "/app"
    assert image.config["Labels"] == {"org.example.course": "layers-101"}
    assert image.config["ExposedPorts"] == {"8080/tcp": {}}
    assert image.config["Cmd"] == ["sh", "-c", "cat /app/hello.txt"]


def test_the_engine_and_its_saved_archive_give_the_same_image(built_images, saved_images):
    [from_engine] = ingest(f"docker-daemon:{built_images['multistage']}")
    [from_archive] = ingest(f"docker-archive:{saved_images['multistage']}")

    assert from_archive.pk == from_engine.pk
    assert Image.objects.count() == 1


@pytest.mark.parametrize("name", ["teaching", "sibling", "multistage"])
def test_layer_sizes_and_entry_counts_match_dive(name, saved_images, dive, tmp_path):
    [image] = ingest(f"docker-archive:{saved_images[name]}")
    report = dive_json(saved_images[name], tmp_path / "dive.json")

    ours = [
        (il.layer.diff_id, il.layer.size, il.layer.entry_count) for il in image.layers_in_order()
    ]
    theirs = [
        (layer["digestId"], layer["sizeBytes"], len(layer["fileList"])) for layer in report["layer"]
    ]
    assert ours == theirs
    assert image.size == report["image"]["sizeBytes"]


def test_each_layer_is_classified_against_the_layers_below(built_images):
    [image] = ingest(f"docker-daemon:{built_images['teaching']}")

    def changes(step_text: str) -> dict[str, tuple[str, str]]:
        il = _layer_by_step(image, step_text)
        return {p: (c.kind, c.detail) for p, c in packed.chain_changes(il.chain_id).items()}

    created = changes("mkdir -p /app/data /app/cache")
    assert created["app/data/blob.bin"] == ("A", "")
    assert created["app/cache/big.tmp"] == ("A", "")

    removed = changes("rm -rf /app/cache")
    assert removed["app/cache"][0] == "D"
    assert removed["app/cache/big.tmp"][0] == "D"
    assert removed["app/cache/small.tmp"][0] == "D"
    assert removed["app/data/config.txt"] == ("M", "c")

    assert changes("chmod 600")["app/data/blob.bin"] == ("M", "m")
    assert changes("rm /app/data/blob.bin")["app/data/blob.bin"] == ("D", "w")
    assert changes("COPY")["app/hello.txt"] == ("A", "")


def test_the_merged_filesystem_of_any_layer_can_be_read_back(built_images):
    [image] = ingest(f"docker-daemon:{built_images['teaching']}")
    before_rm = _layer_by_step(image, "mkdir -p /app/data /app/cache").chain
    final = image.top_chain

    assert "app/cache/big.tmp" in filesystem.merged_files(before_rm)
    files = filesystem.merged_files(final)
    assert "app/cache/big.tmp" not in files
    assert "app/data/blob.bin" not in files
    assert files["app/data/config.txt"].size == 4
    assert files["app/hello.txt"].kind == "A"
    assert files["bin/busybox"].depth == 0


def test_an_image_sharing_a_base_indexes_only_its_new_layers(built_images):
    [teaching] = ingest(f"docker-daemon:{built_images['teaching']}")
    before = set(Layer.objects.values_list("diff_id", flat=True))
    [sibling] = ingest(f"docker-daemon:{built_images['sibling']}")
    added = set(Layer.objects.values_list("diff_id", flat=True)) - before

    sibling_layers = [il.layer.diff_id for il in sibling.layers_in_order()]
    base = teaching.layers_in_order().first().layer.diff_id
    assert sibling_layers[0] == base
    assert added == set(sibling_layers[1:])


def test_a_multi_stage_build_ships_only_the_final_stage(built_images):
    [image] = ingest(f"docker-daemon:{built_images['multistage']}")
    files = filesystem.merged_files(image.top_chain)

    assert "usr/local/bin/artifact" in files
    assert not any(path.startswith("src/") for path in files)
    assert image.config["User"] == "1000"


def test_an_image_the_engine_does_not_have_is_a_clear_error(docker_engine):
    with pytest.raises(IngestError, match="the Docker engine has no image lv/absent:9"):
        ingest("docker-daemon:lv/absent:9")
    assert Image.objects.count() == 0


@pytest.mark.parametrize("which", ["open_registry", "basic_registry", "token_registry"])
def test_engine_built_images_pushed_to_a_registry_come_back_with_the_same_layers(
    which, request, built_images, saved_images
):
    registry = request.getfixturevalue(which)
    registry.push(f"docker-archive:{saved_images['teaching']}", "lv/teaching:1.0")
    credentials = {}
    if registry.push_credentials and which == "basic_registry":
        user, _, password = registry.push_credentials.partition(":")
        credentials = {"username": user, "password": password}

    [local] = ingest(f"docker-daemon:{built_images['teaching']}")
    layers_before = Layer.objects.count()
    [pulled] = ingest(
        f"docker://{registry.host}/lv/teaching:1.0", options=SourceOptions(**credentials)
    )

    # The same image (same config, same chain of layers) under another manifest: every layer
    # is shared, so nothing new was indexed.
    assert pulled.image_id == local.image_id
    assert [il.chain_id for il in pulled.layers_in_order()] == [
        il.chain_id for il in local.layers_in_order()
    ]
    assert Layer.objects.count() == layers_before
    assert [r.display for r in pulled.references.all()] == [
        f"{registry.host}/lv/teaching:1.0",
        f"{registry.host}/lv/teaching@{pulled.digest}",
    ]


def test_the_engine_pulls_an_image_first_when_asked(
    docker_engine, built_images, saved_images, open_registry
):
    open_registry.push(f"docker-archive:{saved_images['sibling']}", "lv/pulled:1.0")
    ref = f"{open_registry.host}/lv/pulled:1.0"
    with contextlib.suppress(Exception):
        docker_engine.images.remove(ref, force=True)

    with pytest.raises(IngestError, match="has no image"):
        ingest(f"docker-daemon:{ref}")
    [image] = ingest(f"docker-daemon:{ref}", options=SourceOptions(pull=True))

    assert ref in [r.display for r in image.references.all()]
    assert image.image_id == docker_engine.images.get(built_images["sibling"]).id


DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("ref", "repository", "tag"),
    [
        ("python", "python", "latest"),
        ("python:3.12", "python", "3.12"),
        ("127.0.0.1:5000/lv/app", "127.0.0.1:5000/lv/app", "latest"),
        ("127.0.0.1:5000/lv/app:1", "127.0.0.1:5000/lv/app", "1"),
        (f"repo@{DIGEST}", "repo", DIGEST),
        (f"lv/app:1@{DIGEST}", "lv/app", DIGEST),
    ],
)
def test_a_pull_asks_the_engine_for_the_repository_and_tag_docker_pull_would(ref, repository, tag):
    assert pull_target(ref) == (repository, tag)


def test_a_pull_of_a_reference_that_cannot_be_one_is_refused_by_name():
    with pytest.raises(SourceError, match="cannot pull 'Not/Valid:'"):
        pull_target("Not/Valid:")


def test_a_saved_image_is_matched_by_any_id_an_image_store_may_report(tmp_path):
    # The classic store reports the config digest; the containerd store (Docker 29's default)
    # reports the manifest digest, or the index digest of a multi-platform image.
    host = host_platform()
    layer = synth.layer([synth.file("app/x", b"x")])
    index = synth.ImageIndex(
        [
            synth.Image([layer], architecture=host.architecture, variant=host.variant),
            synth.Image([layer], architecture="s390x"),
        ],
        tags=["lv/multi:1"],
    )
    path = synth.write_docker_archive(tmp_path / "m.tar", [index], layout="containerd")
    with open(path, "rb") as f:
        [image] = resolve_any(TarFiles(f, Limits()), want=None, options=SourceOptions())
    built = index.build()
    mine, other = built.images

    assert is_inspected(image, mine.config.digest)
    assert is_inspected(image, mine.manifest.digest)
    assert is_inspected(image, built.index.digest)
    assert not is_inspected(image, other.config.digest)
    assert not is_inspected(image, other.manifest.digest)
    assert not is_inspected(image, "")


@pytest.mark.parametrize("name", ["teaching", "multistage"])
def test_a_saved_images_download_size_is_estimated_within_15_percent_of_skopeos_gzip(
    name, saved_images, tmp_path
):
    # docker save writes plain tars: what a registry would be sent is that tar gzipped, as
    # skopeo copy compresses it (gzip at its default level).
    components.need("skopeo", None if skopeo_binary() else "it is not installed")
    out = tmp_path / "oci.tar"
    subprocess.run(
        [skopeo_binary(), "copy", "-q", "--dest-compress", f"docker-archive:{saved_images[name]}",
         f"oci-archive:{out}"],
        check=True,
    )  # fmt: skip
    with tarfile.open(out) as oci:

        def blob(digest: str) -> dict:
            return json.load(oci.extractfile(f"blobs/sha256/{digest.partition(':')[2]}"))

        index = json.load(oci.extractfile("index.json"))
        real = [layer["size"] for layer in blob(index["manifests"][0]["digest"])["layers"]]

    [image] = ingest(f"docker-archive:{saved_images[name]}")
    links = list(image.layers_in_order())

    assert all(il.download_estimated for il in links)
    assert image.compressed_estimated
    assert abs(image.compressed_size - sum(real)) <= 0.15 * sum(real)
    for il, size in zip(links, real, strict=True):
        assert abs(il.download_size - size) <= 0.15 * size, (il.position, il.download_size, size)
        assert il.download_size < il.blob_size
