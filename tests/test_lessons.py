"""The lesson images: generated the same every run, consistent, each lesson's point true, and
the same lessons built by a real engine teaching the same thing."""

from __future__ import annotations

import io
import itertools
import json
import tarfile
from collections.abc import Iterator

import pytest

from layerviz.images import dockerfile
from layerviz.images.lookup import find_image
from layerviz.images.models import Image, Reference
from layerviz.lessons import build, images, load
from layerviz.lib import oci, synth

from . import components


@pytest.fixture(scope="module")
def offline() -> dict[str, synth.BuiltImage]:
    return {image.tags[0]: image.build() for image in images.images()}


def _members(layer: bytes) -> Iterator[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        yield from tar


def _names(layer: bytes) -> set[str]:
    return {m.name.rstrip("/") for m in _members(layer)}


def _file(layer: bytes, path: str) -> bytes | None:
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        for member in tar:
            if member.name == path and member.isfile():
                return tar.extractfile(member).read()  # type: ignore[union-attr]
    return None


def _chains(built: synth.BuiltImage) -> list[str]:
    return oci.chain_ids(built.diff_ids)


def _size(built: synth.BuiltImage) -> int:
    return sum(m.size for layer in built.image.layers for m in _members(layer))


def test_every_lesson_tag_is_generated_and_every_lesson_names_known_tags(offline):
    assert list(offline) == images.TAGS
    assert set(images.LESSONS) == {
        "layers", "sharing", "writable", "whiteouts", "size", "union", "cache",
    }  # fmt: skip
    assert {tag for tags in images.LESSONS.values() for tag in tags} <= set(images.TAGS)


def test_the_images_are_the_same_bytes_on_every_run(offline):
    again = {image.tags[0]: image.build() for image in images.images()}

    assert {t: b.manifest.digest for t, b in again.items()} == {
        t: b.manifest.digest for t, b in offline.items()
    }


def test_every_metadata_step_in_the_history_agrees_with_the_config(offline):
    for tag, built in offline.items():
        config = json.loads(built.config.data)["config"]
        history = json.loads(built.config.data)["history"]
        env = dict(item.split("=", 1) for item in synth.DEFAULT_ENV)
        workdir, cmd, ports = "", images.BASE_CMD, set()
        for step in history:
            text = step["created_by"].removeprefix("/bin/sh -c #(nop) ").strip()
            keyword, _, rest = text.partition(" ")
            if keyword == "ENV":
                env.update(item.split("=", 1) for item in rest.split())
            elif keyword == "WORKDIR":
                workdir = rest
            elif keyword == "CMD":
                cmd = json.loads(rest.replace('" "', '", "'))
            elif keyword == "EXPOSE":
                ports |= {f"{p}/tcp" for p in rest.split()}
        assert config["Env"] == [f"{k}={v}" for k, v in env.items()], tag
        assert config.get("WorkingDir", "") == workdir, tag
        assert config["Cmd"] == cmd, tag
        assert set(config.get("ExposedPorts", {})) == ports, tag
        layers = [s for s in history if not s.get("empty_layer")]
        assert len(layers) == len(built.layers), tag


def test_the_layers_image_has_one_layer_per_file_changing_instruction(offline):
    history = json.loads(offline["lesson/layers:1.0"].config.data)["history"]

    kinds = [(h["created_by"].split("#(nop)")[-1].split()[:1], "empty_layer" in h) for h in history]
    assert [k for (k, empty) in kinds if empty] == [["ENV"], ["WORKDIR"], ["EXPOSE"], ["CMD"]]
    assert len(offline["lesson/layers:1.0"].layers) == 3


def test_shop_and_blog_share_the_django_layer_and_gallery_does_not(offline):
    python, shop, blog, gallery = (
        _chains(offline[f"lesson/{n}"])
        for n in ("python:3.12", "shop:1.0", "blog:1.0", "gallery:1.0")
    )

    assert shop[:3] == blog[:3] == gallery[:3] == python
    assert (
        shop[3] == blog[3]
        and offline["lesson/shop:1.0"].diff_ids[3] == (offline["lesson/blog:1.0"].diff_ids[3])
    )
    assert gallery[3] != shop[3]
    assert shop[4] != blog[4]


def test_the_deleted_secret_is_still_readable_in_the_layer_that_added_it(offline):
    layers = offline["lesson/secret:1.0"].image.layers

    key = _file(layers[1], "tmp/deploy_key")
    assert key is not None and key.startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    assert {"tmp/.wh.deploy_key", "tmp/.wh.app.tar.gz"} <= _names(layers[2])
    assert "srv/data/.wh..wh..opq" in _names(layers[4])
    assert any(n.startswith("srv/data/customers-") for n in _names(layers[3]))


def test_chmod_in_its_own_step_stores_the_binary_twice(offline):
    copy, chmod = offline["lesson/chmod:1.0"].image.layers[1:]

    assert _file(copy, "usr/local/bin/tool") == _file(chmod, "usr/local/bin/tool")
    modes = [m.mode for layer in (copy, chmod) for m in _members(layer) if m.name.endswith("/tool")]
    assert modes == [0o644, 0o755]


def test_every_size_the_lessons_compare_goes_the_way_they_say(offline):
    for smaller, larger in images.CONTRASTS:
        assert _size(offline[smaller]) < _size(offline[larger]), (smaller, larger)


def test_the_builder_stage_holds_the_toolchain_and_the_final_image_only_the_server(offline):
    builder = set().union(*map(_names, offline["lesson/multi-stage-builder:1.0"].image.layers))
    final = set().union(*map(_names, offline["lesson/multi-stage:1.0"].image.layers[1:]))

    assert "usr/libexec/gcc/x86_64-linux-gnu/12/cc1" in builder and "src/server.o" in builder
    assert {n for n in final if not n.endswith(("usr", "usr/local", "usr/local/bin"))} == {
        "usr/local/bin/server"
    }
    assert _chains(offline["lesson/single-stage:1.0"]) == _chains(
        offline["lesson/multi-stage-builder:1.0"]
    )


def test_a_one_line_change_rebuilds_the_install_in_the_bad_order_only(offline):
    bad_old, bad_new = (_chains(offline[f"lesson/cache-bad:{v}"]) for v in ("1.0", "1.1"))
    good_old, good_new = (_chains(offline[f"lesson/cache-good:{v}"]) for v in ("1.0", "1.1"))

    # bad: base (3) kept, COPY . and the install after it rebuilt, with new bytes.
    assert bad_old[:3] == bad_new[:3] and bad_old[3] != bad_new[3] and bad_old[4] != bad_new[4]
    assert (
        offline["lesson/cache-bad:1.0"].diff_ids[4] != offline["lesson/cache-bad:1.1"].diff_ids[4]
    )
    # good: requirements and install reused, only the last COPY rebuilt.
    assert good_old[:5] == good_new[:5] and good_old[5] != good_new[5]


def test_the_base_looks_like_debian_in_size_and_shape(offline):
    base = offline["lesson/debian:12"].image.layers[0]
    members = list(_members(base))

    assert len(members) > 2000
    assert 40_000_000 < sum(m.size for m in members) < 90_000_000
    assert {"usr/bin/apt-get", "var/lib/dpkg/status", "etc/os-release"} <= {m.name for m in members}
    # Debian's setuid and setgid programs, as a reviewer would find them.
    modes = {m.name: m.mode for m in members}
    assert modes["usr/bin/passwd"] == 0o4755 and modes["usr/bin/chage"] == 0o2755


# --- loading, and the built set ---------------------------------------------------------------


def _indexed(prefix: str) -> dict[str, Image]:
    tags = [prefix + tag.removeprefix(images.PREFIX) for tag in images.TAGS]
    refs = Reference.objects.filter(display__in=tags).select_related("image")
    by_name = {ref.display: ref.image for ref in refs}
    return {tag: by_name[prefix + tag.removeprefix(images.PREFIX)] for tag in images.TAGS}


def _shape(indexed: dict[str, Image]) -> dict[str, object]:
    """What a lesson shows, whatever the bytes: layers per image, layers each pair shares,
    which side of each contrast is smaller."""
    chains = {t: [il.chain_id for il in i.layers_in_order()] for t, i in indexed.items()}
    shared = {
        (a, b): len(set(chains[a]) & set(chains[b]))
        for a, b in itertools.combinations(images.TAGS, 2)
    }
    return {
        "layers": {t: len(c) for t, c in chains.items()},
        "shared": shared,
        "contrasts": [indexed[a].size < indexed[b].size for a, b in images.CONTRASTS],
    }


@pytest.mark.django_db(transaction=True)
def test_the_loader_indexes_every_lesson_image_once(tmp_path):
    assert load.load(tmp_path) == images.TAGS
    assert load.load(tmp_path) == []

    assert set(_indexed(images.PREFIX)) == set(images.TAGS)
    assert Image.objects.count() == len(images.TAGS)


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
def test_the_built_lessons_teach_what_the_offline_ones_do(docker_engine, tmp_path):
    components.need("busybox-static", None if build.BUSYBOX.exists() else "no /bin/busybox")
    load.load(tmp_path / "offline")
    build.build_and_ingest(tmp_path / "contexts")

    offline, built = _shape(_indexed(images.PREFIX)), _shape(_indexed(build.PREFIX))
    assert built["layers"] == offline["layers"]
    assert built["shared"] == offline["shared"]
    assert built["contrasts"] == offline["contrasts"] == [True] * len(images.CONTRASTS)
    # The build-cache lesson's what-if predicts what the engine's cache really rebuilt.
    for order in ("cache-bad", "cache-good"):
        old = find_image(f"{build.PREFIX}/{order}:1.0")
        new = find_image(f"{build.PREFIX}/{order}:1.1")
        step = dockerfile.first_changed_step(old, new)
        assert step is not None, order
        predicted = dockerfile.what_if(dockerfile.reconstruct(old), step)
        assert [il.position + 1 for il in predicted.rebuilt] == dockerfile.rebuilt_between(
            old, new
        ), order
