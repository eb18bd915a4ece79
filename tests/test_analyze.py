"""Efficiency: dive's numbers exactly (checked against the real dive), then ours, then advice."""

from __future__ import annotations

import json
import os
import re
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from layerviz.images import efficiency
from layerviz.images.ingest import ingest
from layerviz.lib import synth
from layerviz.lib.synth import Step, directory, file, opaque, whiteout

from . import components
from .dive import dive_json

pytestmark = pytest.mark.django_db

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _dive_ci(archive: Path, cwd: Path, *flags: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    result = subprocess.run(
        [components.dive_path(), "--source", "docker-archive", str(archive), "--ci", *flags],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return result.returncode, ANSI.sub("", result.stdout)


def _ours_ci(ref: str, cwd: Path, *flags: str, monkeypatch) -> tuple[int, str]:
    monkeypatch.chdir(cwd)
    out = StringIO()
    try:
        call_command("analyze", ref, "--ci", *flags, stdout=out)
        code = 0
    except SystemExit as exc:
        code = int(exc.code)
    return code, out.getvalue()


def _from_efficiency(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  efficiency:"))
    return [line.rstrip() for line in lines[start:] if line.strip()]


def _same_export(ours: dict, theirs: dict) -> None:
    for key in ("sizeBytes", "inefficientBytes"):
        assert ours["image"][key] == theirs["image"][key], key
    assert ours["image"]["efficiencyScore"] == pytest.approx(
        theirs["image"]["efficiencyScore"], rel=1e-12
    )
    # dive sorts the list with an unstable sort; ties may come in any order.
    assert sorted(map(json.dumps, ours["image"]["fileReference"])) == sorted(
        map(json.dumps, theirs["image"]["fileReference"])
    )
    assert len(ours["layer"]) == len(theirs["layer"])
    for mine, dives in zip(ours["layer"], theirs["layer"], strict=True):
        assert mine == dives, mine["index"]


# --- against the real dive, on images the real engine built --------------------------------


@pytest.mark.parametrize("name", ["teaching", "sibling", "multistage"])
def test_the_json_export_equals_what_dive_writes_for_an_engine_built_image(
    name, saved_images, dive, tmp_path
):
    [image] = ingest(f"docker-archive:{saved_images[name]}")
    call_command("analyze", image.digest, "--json", str(tmp_path / "ours.json"))

    _same_export(
        json.loads((tmp_path / "ours.json").read_text()),
        dive_json(saved_images[name], tmp_path / "dive.json"),
    )


@pytest.mark.parametrize(
    "flags",
    [
        (),
        ("--lowestEfficiency", "0.99", "--highestWastedBytes", "20kB"),
        ("--highestUserWastedPercent", "disabled", "--highestWastedBytes", "1MiB"),
        ("--lowestEfficiency", "2"),
    ],
)
def test_ci_mode_prints_and_decides_what_dive_does(
    flags, saved_images, dive, tmp_path, monkeypatch
):
    [image] = ingest(f"docker-archive:{saved_images['teaching']}")

    dive_code, dive_out = _dive_ci(saved_images["teaching"], tmp_path, *flags)
    our_code, our_out = _ours_ci(image.digest, tmp_path, *flags, monkeypatch=monkeypatch)

    assert our_code == dive_code
    assert _from_efficiency(our_out) == _from_efficiency(dive_out)


def test_a_dive_ci_file_sets_the_rules_and_flags_still_win(
    saved_images, dive, tmp_path, monkeypatch
):
    [image] = ingest(f"docker-archive:{saved_images['teaching']}")
    (tmp_path / ".dive-ci").write_text(
        "rules:\n  lowestEfficiency: 0.5\n  highestWastedBytes: 1MB\n  highestUserWastedPercent: disabled\n"
    )

    for flags in [(), ("--highestUserWastedPercent", "0.01")]:
        dive_code, dive_out = _dive_ci(saved_images["teaching"], tmp_path, *flags)
        our_code, our_out = _ours_ci(image.digest, tmp_path, *flags, monkeypatch=monkeypatch)
        assert "Using CI config: .dive-ci" in our_out
        assert (our_code, _from_efficiency(our_out)) == (dive_code, _from_efficiency(dive_out))


# --- dive's quirks, on generated archives, still against the real dive --------------------

QUIRKS = {
    # A whiteout of a directory the tar listed: dive counts the directory's bytes once more.
    "explicit_dir_whiteout": [
        synth.layer(
            [
                directory("etc/app"),
                file("etc/app/a.conf", b"a" * 2000),
                file("etc/app/b", b"b" * 3000),
            ]
        ),
        synth.layer([file("etc/app/a.conf", b"A" * 5000), file("etc/other", b"o" * 10)]),
        synth.layer([whiteout("etc/app")]),
    ],
    # The same with no directory entry: dive's whiteout costs nothing (dive's own test case).
    "implicit_dir_whiteout": [
        synth.layer(
            [file("etc/nginx/nginx.conf", b"n" * 2000), file("etc/nginx/public", b"p" * 3000)],
            parents=False,
        ),
        synth.layer(
            [file("etc/nginx/nginx.conf", b"N" * 5000), file("etc/athing", b"t" * 10000)],
            parents=False,
        ),
        synth.layer([whiteout("etc/nginx")], parents=False),
    ],
    # A whiteout with nothing below stops dive's walk of that layer (files after it, by name,
    # are not counted) and leaves an empty record that lowers the score.
    "missing_whiteout": [
        synth.layer([file("a/x", b"x" * 100)]),
        synth.layer([whiteout("a/gone"), file("a/x", b"y" * 300), file("z/late", b"z" * 50)]),
    ],
    # Opaque directories are invisible to dive; duplicate paths overwrite one node.
    "opaque_and_duplicates": [
        synth.layer([file("srv/d/old", b"o" * 4000), file("srv/keep", b"k")]),
        synth.layer(
            [
                opaque("srv/d"),
                file("srv/d/new", b"n" * 10),
                file("srv/keep", b"1"),
                file("srv/keep", b"22"),
            ]
        ),
    ],
}


@pytest.mark.parametrize("case", sorted(QUIRKS))
@pytest.mark.parametrize("layout", ["legacy", "docker25"])
def test_dive_quirks_are_reproduced_exactly(case, layout, dive, tmp_path):
    layers = QUIRKS[case]
    history = [Step(f"/bin/sh -c step {i}") for i in range(len(layers))]
    archive = synth.write_docker_archive(
        tmp_path / "q.tar",
        [synth.Image(layers=layers, history=history, tags=["lv/q:1"])],
        layout=layout,
    )
    [image] = ingest(f"docker-archive:{archive}")
    call_command("analyze", image.digest, "--json", str(tmp_path / "ours.json"))

    _same_export(
        json.loads((tmp_path / "ours.json").read_text()), dive_json(archive, tmp_path / "dive.json")
    )


# --- our own accounting -------------------------------------------------------------------


def _image(
    tmp_path: Path, layers: list[bytes], history: list[str] | None = None, tag: str = "lv/w:1"
):
    steps = [Step(h) for h in history] if history else None
    archive = synth.write_docker_archive(
        tmp_path / "w.tar",
        [synth.Image(layers=layers, history=steps, tags=[tag])],
        layout="docker25",
    )
    [image] = ingest(f"docker-archive:{archive}")
    return image


def test_each_undone_copy_is_counted_once_with_its_reason(tmp_path):
    image = _image(
        tmp_path,
        [
            synth.layer(
                [
                    file("d/big", b"b" * 1000),
                    file("d/sub/x", b"x" * 500),
                    file("f", b"f" * 200),
                    file("same", b"s" * 70),
                    file("perm", b"p" * 40),
                ]
            ),
            synth.layer(
                [
                    whiteout("d"),
                    file("f", b"F" * 300),
                    file("same", b"s" * 70),
                    file("perm", b"p" * 40, mode=0o600),
                ]
            ),
        ],
    )
    report = efficiency.waste_report(image)

    assert report.by_reason == {
        "deleted": [1500, 2],
        "overwritten": [200, 1],
        "identical": [70, 1],
        "metadata": [40, 1],
    }
    assert report.reclaimable == 1810
    assert report.written == 1810 + 300 + 70 + 40


def test_waste_dive_cannot_see_is_counted_deletions_by_directory_and_opaque_whiteouts(tmp_path):
    image = _image(
        tmp_path,
        [
            synth.layer([file("cache/a", b"a" * 700), file("data/b", b"b" * 900)], parents=False),
            synth.layer([whiteout("cache"), opaque("data"), directory("data")]),
        ],
    )
    analysis = efficiency.analyze(image)

    assert analysis.dive["wasted"] == 0
    assert analysis.ours["reclaimable"] == 1600
    paths = {f.path: (f.dive_bytes, f.reclaimable) for f in analysis.files.all()}
    assert paths == {"/cache/a": (0, 700), "/data/b": (0, 900)}


# --- advice ------------------------------------------------------------------------------


def test_advice_names_each_mistake_with_its_layers_files_and_saving(tmp_path):
    image = _image(
        tmp_path,
        [
            synth.layer(
                [file("usr/bin/gcc-12", b"g" * 3000), file("usr/include/stdio.h", b"h" * 100)]
            ),
            synth.layer(
                [
                    file("app/main.py", b"m" * 10),
                    file("app/.git/objects/ab", b"o" * 500),
                    file("app/.env", b"SECRET=1"),
                ]
            ),
            synth.layer(
                [
                    file("var/lib/apt/lists/main", b"l" * 800),
                    file("root/.cache/pip/wheel", b"w" * 600),
                    file("tmp/build.o", b"o" * 900),
                ]
            ),
            synth.layer([whiteout("tmp/build.o")]),
            synth.layer([file("app/main.py", b"m" * 10, mode=0o755)]),
        ],
        [
            "ADD rootfs.tar /",
            "COPY . /app",
            "RUN /bin/sh -c apt-get update && apt-get install -y gcc && pip install flask",
            "RUN /bin/sh -c rm /tmp/build.o",
            "RUN /bin/sh -c chmod +x /app/main.py",
        ],
    )
    findings = {f["code"]: f for f in efficiency.analyze(image).advice}

    assert findings["secrets"]["paths"] == [["app/.env", 8]]
    assert findings["cache_apt"]["saving"] == 800 and findings["cache_apt"]["layers"] == [2]
    assert findings["cache_pip"]["saving"] == 600
    assert (
        findings["deleted_later"]["layers"] == [2, 3] and findings["deleted_later"]["saving"] == 900
    )
    assert findings["context_junk"]["paths"] == [["app/.git/objects/ab", 500]]
    assert findings["toolchain"]["saving"] == 3100
    assert findings["chmod_step"]["layers"] == [1, 4] and findings["chmod_step"]["saving"] == 10
    assert findings["cache_order"]["layers"] == [1, 2]
    assert next(iter(findings)) == "secrets"  # secrets come first, whatever their size


def test_many_tiny_layers_are_pointed_out(tmp_path):
    layers = [synth.layer([file("base", b"b" * 5000)])] + [
        synth.layer([file(f"t{i}", b"1")]) for i in range(6)
    ]
    codes = [f["code"] for f in efficiency.analyze(_image(tmp_path, layers)).advice]
    assert "tiny_layers" in codes


def test_the_analysis_is_stored_and_reused(tmp_path):
    image = _image(tmp_path, [synth.layer([file("a", b"1")])])
    first = efficiency.analyze(image)
    assert efficiency.analyze(image).pk == first.pk


def test_the_summary_command_prints_dive_figures_beside_ours(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    image = _image(tmp_path, [synth.layer([file("a", b"1" * 100)]), synth.layer([whiteout("a")])])
    out = StringIO()
    call_command("analyze", image.digest, stdout=out)
    text = out.getvalue()
    assert "dive v0.13.1 figures:" in text and "layerviz figures:" in text
    assert "reclaimable          100 bytes" in text


def test_an_unknown_reference_is_a_clear_command_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no indexed image is named"):
        call_command("analyze", "lv/none:1")
