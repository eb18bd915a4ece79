"""Deletes and undos racing ingests, with real processes held at exact points.

Each ingest runs as its own ``manage.py ingest`` process; ``LAYERVIZ_TEST_PAUSE`` (see
``layerviz/lib/pausepoints.py``, a test-only hook) holds it where the race bites, while this
process or another ingest deletes what it relies on.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from layerviz.images import deletion, packed
from layerviz.images.models import Chain, Image, Layer, Lease
from layerviz.lib import synth
from layerviz.lib.tarwriter import file

from . import processes
from .helpers import ingest_image, write_archive

pytestmark = pytest.mark.django_db(transaction=True)


def _paused(tmp_path: Path, name: str, *points: str) -> tuple[Path, dict[str, str]]:
    folder = tmp_path / f"pause-{name}"
    folder.mkdir()
    return folder, processes.env(LAYERVIZ_TEST_PAUSE=f"{','.join(points)}@{folder}")


def _reach(folder: Path, point: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not (folder / f"{point}.reached").exists():
        if process.poll() is not None:
            raise AssertionError(f"exited before {point}: {process.communicate()}")
        assert time.monotonic() < deadline, f"never reached {point}"
        time.sleep(0.02)


def _release(folder: Path, point: str) -> None:
    (folder / f"{point}.go").touch()


def _delete_while_held(
    tmp_path: Path, name: str, point: str, doomed: Image, *ingest: str
) -> tuple[int, str]:
    """``manage.py ingest *ingest`` held at ``point`` while image ``doomed`` is deleted, then
    let go: its exit status and stderr."""
    folder, env = _paused(tmp_path, name, point)
    ingesting = processes.manage("ingest", *ingest, env=env)
    _reach(folder, point, ingesting)
    deletion.delete_image(doomed)
    _release(folder, point)
    _out, err = ingesting.communicate(timeout=120)
    return ingesting.returncode, err


def _failing_then_other(
    tmp_path: Path, failing: Path, failing_at: str, other: Path, other_at: str
) -> tuple[str, subprocess.Popen, str]:
    """Two ingests, interleaved exactly: ``failing`` held at ``failing_at``, ``other`` started
    and held at ``other_at``, then ``failing`` let go to its end, then ``other``. Returns the
    failing one's stderr, and the other's process and stderr."""
    bad_folder, bad_env = _paused(tmp_path, "bad", failing_at)
    good_folder, good_env = _paused(tmp_path, "good", other_at)
    first = processes.manage("ingest", f"docker-archive:{failing}", env=bad_env)
    _reach(bad_folder, failing_at, first)
    second = processes.manage("ingest", f"docker-archive:{other}", env=good_env)
    _reach(good_folder, other_at, second)
    _release(bad_folder, failing_at)
    _out, failed_err = first.communicate(timeout=120)
    assert first.returncode != 0 and "config says" in failed_err, failed_err
    _release(good_folder, other_at)
    _out, err = second.communicate(timeout=120)
    return failed_err, second, err


def _assert_complete(image: Image, layers: list[bytes]) -> None:
    stack = list(image.layers_in_order())
    assert [il.layer.diff_id for il in stack] == [synth.sha256(tar) for tar in layers]
    for il in stack:
        assert il.layer.is_ready and il.chain.is_ready
        assert packed.entry_count(il.layer.pk) == il.layer.entry_count > 0


def test_it_keeps_what_an_ingest_relies_on_when_an_image_is_deleted_meanwhile(tmp_path):
    base = synth.layer([file("etc/base", b"base")])
    top = synth.layer([file("app/a", b"a")])
    own = synth.layer([file("app/b", b"b")])
    first = ingest_image(tmp_path, "lv/a:1", [base, top])
    second = write_archive(tmp_path, "lv/b:1", [base, top, own])
    # B finds A's layers indexed, reads only its own, and is held before it makes its image.
    status, err = _delete_while_held(tmp_path, "b", "image", first, f"docker-archive:{second}")

    assert status == 0, err
    [image] = Image.objects.all()
    _assert_complete(image, [base, top, own])
    assert Layer.objects.count() == 3 and Chain.objects.count() == 3
    assert not Lease.objects.exists()  # given up once the image was saved


def test_an_image_deleted_while_an_ingest_of_it_adds_names_is_indexed_again(tmp_path):
    layers = [synth.layer([file("etc/base", b"base")]), synth.layer([file("app/a", b"a")])]
    first = ingest_image(tmp_path, "lv/a:1", layers)
    # The second ingest finds the image indexed and is held before it names it.
    archive = f"docker-archive:{tmp_path / 'lv_a_1.tar'}"
    status, err = _delete_while_held(tmp_path, "again", "names", first, archive, "--tag", "lv/a:2")

    assert status == 0, err
    [image] = Image.objects.all()
    assert image.pk != first.pk
    _assert_complete(image, layers)
    assert sorted(image.names) == ["lv/a:1", "lv/a:2"]


def test_it_builds_again_a_chain_deleted_before_an_ingest_could_build_on_it(tmp_path):
    base = synth.layer([file("etc/base", b"base")])
    top = synth.layer([file("app/a", b"a"), file("etc/base", b"changed")])
    own = synth.layer([file("app/b", b"b")])
    first = ingest_image(tmp_path, "lv/a:1", [base, top])
    second = write_archive(tmp_path, "lv/b:1", [base, top, own])
    # B found A's chains ready when it started on them; it has built on the lowest one and is
    # held before the next, which the delete then takes.
    status, err = _delete_while_held(tmp_path, "b", "chain:1", first, f"docker-archive:{second}")

    assert status == 0, err
    [image] = Image.objects.all()
    _assert_complete(image, [base, top, own])
    stack = list(image.layers_in_order())
    assert [il.chain.modified for il in stack] == [0, 1, 0]  # etc/base, changed on the base
    assert [il.chain.parent_id for il in stack] == [None, stack[0].chain_id, stack[1].chain_id]
    assert Chain.objects.count() == 3


def test_it_keeps_a_base_another_ingest_reuses_when_a_failed_ingest_is_undone(tmp_path):
    base = synth.layer([file(f"usr/lib/f{i}", b"%d" % i) for i in range(200)])
    bad_top = synth.layer([file("app/bad", b"x")])
    bad = synth.write_docker_archive(
        tmp_path / "bad.tar",
        [
            synth.Image(
                layers=[base, bad_top],
                diff_ids=[synth.sha256(base), "sha256:" + "0" * 64],
                tags=["lv/bad:1"],
            )
        ],
        layout="docker25",
    )
    good_top = synth.layer([file("app/good", b"g")])
    good = write_archive(tmp_path, "lv/good:1", [base, good_top])
    # The bad image's base is indexed first and its broken top layer arrives last; meanwhile
    # the good image finds that base ready and reuses it.
    _failed, reusing, err = _failing_then_other(tmp_path, bad, "read:1", good, "image")

    assert reusing.returncode == 0, err
    [image] = Image.objects.all()
    _assert_complete(image, [base, good_top])
    assert Layer.objects.count() == 2
    assert not Lease.objects.exists()  # given up by the failed ingest and by the saved one


def test_a_streamed_ingest_waiting_for_a_base_keeps_it_when_its_builder_fails_and_undoes(
    tmp_path,
):
    # Past the 1 MiB a stream keeps in memory: read as the stream passes, by both ingests.
    base = synth.layer([file("data/blob", bytes(range(256)) * 5000)])
    bad = synth.write_docker_archive(
        tmp_path / "bad.tar",
        [
            synth.Image(
                layers=[base, synth.layer([file("app/bad", b"x")])],
                diff_ids=[synth.sha256(base), "sha256:" + "0" * 64],
                tags=["lv/bad:1"],
            )
        ],
        layout="docker25",
    )
    good_top = synth.layer([file("app/good", b"g")])
    good = synth.write_docker_archive(
        tmp_path / "good.tar.gz",
        [synth.Image(layers=[base, good_top], tags=["lv/good:1"])],
        layout="docker25",
        compression="gzip",
    )
    # The bad image's ingest has claimed the base; the good one, streaming, finds it being
    # built and waits. The base is then made ready, the bad top layer fails, and the undo
    # runs before the waiting ingest looks again.
    _failed, waiting, err = _failing_then_other(tmp_path, bad, "read:0", good, "wait")

    assert waiting.returncode == 0, err
    [image] = Image.objects.all()
    _assert_complete(image, [base, good_top])
    assert not Lease.objects.exists()
