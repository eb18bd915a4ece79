"""The ``ingest`` and ``images`` commands, run in-process and as real ``manage.py`` processes."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from layerviz.images.models import Analysis, Image, Layer
from layerviz.lib import synth
from layerviz.lib.tarwriter import file

from . import processes
from .registries import PASSWORD, USER, Registry

pytestmark = pytest.mark.django_db(transaction=True)

BASE = synth.layer([file("etc/os-release", b"ID=synth\n"), file("bin/busybox", b"B" * 3000)])
APP = synth.layer([file("app/main.py", b"print('hello')\n")])
# Bytes no compressor can shrink, so that cutting the archive in half lands inside this layer.
NOISE = synth.layer([file("data/noise", os.urandom(200_000))])
IMAGE = synth.Image([BASE, APP], compression="gzip", tags=["lv/cli:1.0"])


def _archive(tmp_path: Path, image: synth.Image = IMAGE) -> Path:
    return synth.write_docker_archive(tmp_path / "app.tar", [image], layout="containerd")


def _truncated(tmp_path: Path) -> Path:
    path = _archive(tmp_path, synth.Image([BASE, NOISE], tags=["lv/cut:1"]))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    worker = processes.manage(*args)
    out, err = worker.communicate(timeout=120)
    return subprocess.CompletedProcess(worker.args, worker.returncode, out, err)


def test_ingest_prints_the_names_and_manifest_digest_and_exits_zero(tmp_path):
    result = _run("ingest", f"docker-archive:{_archive(tmp_path)}")

    assert result.returncode == 0, result.stderr
    digest = IMAGE.build().manifest.digest
    assert result.stdout == f"lv/cli:1.0 {digest}\n"
    assert Image.objects.get().digest == digest


def test_ingest_stores_the_analysis_and_reports_indexing_and_analysis_apart(tmp_path):
    result = _run("ingest", f"docker-archive:{_archive(tmp_path)}")

    assert result.returncode == 0, result.stderr
    # The first efficiency page reads the analysis, it does not compute it.
    assert Analysis.objects.filter(image=Image.objects.get(), version=Analysis.VERSION).exists()
    assert re.fullmatch(r"indexed in \d+\.\d\d s; analysed in \d+\.\d\d s\n", result.stderr)


def test_the_demo_images_are_stored_with_their_analyses(tmp_path, settings):
    settings.DATA_DIR = tmp_path
    call_command("demo", stdout=io.StringIO())

    images = Image.objects.all()
    assert images
    assert {a.image_id for a in Analysis.objects.all()} == {i.pk for i in images}


def test_ingest_called_in_process_prints_the_same_line(tmp_path):
    out = io.StringIO()
    call_command("ingest", f"docker-archive:{_archive(tmp_path)}", stdout=out, stderr=io.StringIO())
    assert out.getvalue() == f"lv/cli:1.0 {IMAGE.build().manifest.digest}\n"


def test_ingest_of_a_truncated_archive_exits_non_zero_with_one_line_naming_the_problem(tmp_path):
    result = _run("ingest", f"docker-archive:{_truncated(tmp_path)}")

    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert re.fullmatch(
        r"CommandError: the docker archive is truncated: it ends \d+ bytes short, "
        r"inside 'blobs/sha256/[0-9a-f]{64}'",
        line,
    ), line
    assert Image.objects.count() == Layer.objects.count() == 0


def test_ingest_called_in_process_raises_the_same_error(tmp_path):
    with pytest.raises(CommandError, match="the docker archive is truncated: it ends"):
        call_command("ingest", f"docker-archive:{_truncated(tmp_path)}", stderr=io.StringIO())


def test_a_cap_set_to_something_not_a_number_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERVIZ_MAX_LAYER_BYTES", "64G")
    with pytest.raises(CommandError, match=r"^LAYERVIZ_MAX_LAYER_BYTES must be a whole number"):
        call_command("ingest", f"docker-archive:{_archive(tmp_path)}", stderr=io.StringIO())
    assert Image.objects.count() == 0


def test_ingest_of_an_archive_holding_no_image_is_an_error_not_an_empty_success(tmp_path):
    entries = [
        file("oci-layout", synth.dump({"imageLayoutVersion": "1.0.0"})),
        file("index.json", synth.dump({"schemaVersion": 2, "manifests": []})),
    ]
    path = synth.write_tar(tmp_path / "empty.tar", entries)
    with pytest.raises(CommandError, match="the OCI archive holds no image"):
        call_command("ingest", f"oci-archive:{path}", stdout=io.StringIO(), stderr=io.StringIO())


def test_images_json_lists_what_was_ingested(tmp_path):
    call_command("ingest", f"docker-archive:{_archive(tmp_path)}", stdout=io.StringIO())
    out = io.StringIO()
    call_command("images", "--json", stdout=out)

    built = IMAGE.build()
    [image] = json.loads(out.getvalue())
    assert image["references"] == ["lv/cli:1.0"]
    assert image["digest"] == built.manifest.digest
    assert image["image_id"] == built.config.digest
    assert image["platform"] == "linux/amd64"
    layers = [
        {key: layer[key] for key in ("diff_id", "digest", "size", "entries")}
        for layer in image["layers"]
    ]
    assert layers == [
        # etc/ and bin/ with their files; app/ with its file. Sizes are content bytes.
        {
            "diff_id": synth.sha256(BASE),
            "digest": built.layers[0].digest,
            "size": 3009,
            "entries": 4,
        },
        {"diff_id": synth.sha256(APP), "digest": built.layers[1].digest, "size": 15, "entries": 2},
    ]


def test_images_lists_each_image_as_a_row_of_the_table(tmp_path):
    call_command("ingest", f"docker-archive:{_archive(tmp_path)}", stdout=io.StringIO())
    out = io.StringIO()
    call_command("images", stdout=out)

    header, *rows = [re.split(r"\s{2,}", line) for line in out.getvalue().splitlines()]
    assert header == ["REFERENCE", "IMAGE ID", "PLATFORM", "LAYERS", "SIZE"]
    short_id = IMAGE.build().config.digest[7:19]
    assert rows == [["lv/cli:1.0", short_id, "linux/amd64", "2", "3.0kB"]]


def test_password_stdin_reads_standard_input_even_when_a_terminal_is_attached(
    tmp_path, basic_registry: Registry
):
    layout = synth.write_oci_layout(tmp_path / "layout.tar", [IMAGE], as_tar=True)
    basic_registry.push(f"oci-archive:{layout}", "lv/cli:1.0")
    # The process gets a terminal of its own, as when a person pipes the password in from a
    # shell: reading the password from that terminal would wait for typing forever.
    terminal, attached = pty.openpty()
    worker = processes.manage(
        "ingest",
        f"docker://{basic_registry.host}/lv/cli:1.0",
        "--username",
        USER,
        "--password-stdin",
        stdin=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: os.close(os.open(os.ttyname(attached), os.O_RDWR)),
    )
    try:
        out, err = worker.communicate(f"{PASSWORD}\nnot the password\n", timeout=60)
    finally:
        worker.kill()
        worker.wait()
        os.close(terminal)
        os.close(attached)

    assert worker.returncode == 0, err
    name, digest = f"{basic_registry.host}/lv/cli", IMAGE.build().manifest.digest
    assert out == f"{name}:1.0, {name}@{digest} {digest}\n"
