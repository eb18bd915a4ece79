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
from layerviz.images.models import Analysis, Image, IngestJob, JobState
from layerviz.images.requests import IngestRequest
from layerviz.images.tasks import enqueue, ingest_job
from layerviz.lib import synth
from layerviz.lib.synth import Step
from layerviz.lib.tarwriter import directory, file, opaque, symlink, whiteout

from . import components, processes
from .builder import NON_UTF8
from .dive import dive_json
from .helpers import ingest_image, write_archive

pytestmark = pytest.mark.django_db

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _dive_ci(archive: Path, cwd: Path, *flags: str, ci_env: bool = False) -> tuple[int, str]:
    """dive in CI mode, by --ci or (``ci_env``) by CI=true in its environment."""
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": "true"} if ci_env else {})
    mode = () if ci_env else ("--ci",)
    result = subprocess.run(
        [components.dive_path(), "--source", "docker-archive", str(archive), *mode, *flags],
        cwd=cwd, env=env, capture_output=True, text=True, errors="surrogateescape", timeout=600,
    )  # fmt: skip
    return result.returncode, ANSI.sub("", result.stdout)


def _ours_ci(
    ref: str, cwd: Path, *flags: str, monkeypatch, ci_env: bool = False
) -> tuple[int, str]:
    monkeypatch.chdir(cwd)
    if ci_env:
        monkeypatch.setenv("CI", "true")
    else:
        monkeypatch.delenv("CI", raising=False)
    out = StringIO()
    mode = () if ci_env else ("--ci",)
    try:
        call_command("analyze", ref, *mode, *flags, stdout=out)
        code = 0
    except SystemExit as exc:
        code = int(exc.code)
    return code, out.getvalue()


def _ci_lines(text: str) -> list[str]:
    """What dive prints in CI mode, less the lines that name the image's source."""
    skipped = ("Image Source:", "Extracting image")
    return [
        line.rstrip() for line in text.splitlines() if line.strip() and not line.startswith(skipped)
    ]


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


@pytest.fixture
def ci_archive(tmp_path) -> tuple[Path, str]:
    """A wasteful generated image (one name is not UTF-8): its archive and indexed digest."""
    layers = [
        synth.layer([file("etc/app.conf", b"a" * 3000), file(NON_UTF8, b"n" * 500)]),
        synth.layer([file("etc/app.conf", b"b" * 4000), file("srv/data", b"d" * 900)]),
        synth.layer([file(NON_UTF8, b"N" * 700)]),
    ]
    archive = write_archive(tmp_path, "lv/ci:1", layers)
    [image] = ingest(f"docker-archive:{archive}")
    return archive, image.digest


CI_FILES = {
    "null and empty values fall back to the defaults": (
        "rules:\n  lowestEfficiency:\n  highestWastedBytes: ~\n  highestUserWastedPercent: null\n"
    ),
    "numbers are typed as YAML types them": (
        "rules:\n  lowestEfficiency: 0.40\n  highestWastedBytes: 1e3\n"
        "  highestUserWastedPercent: disabled\n"
    ),
    "underscores and hexadecimal are numbers too, and all rules can pass": (
        "rules:\n  lowestEfficiency: 0x0\n  highestWastedBytes: 20_000_000\n"
        "  highestUserWastedPercent: disabled\n"
    ),
    "keys in any case, sizes with units, quoted numbers": (
        "RULES:\n  LowestEfficiency: '0.3'\n  HIGHESTWASTEDBYTES: 5kB\n"
    ),
    "a float with a trailing zero is shown as YAML read it": "rules:\n  lowestEfficiency: 1.50\n",
    "a percentage and an infinity are misconfigured": (
        "rules:\n  highestUserWastedPercent: 10%\n  lowestEfficiency: .inf\n"
    ),
    "an empty string and a list are misconfigured": (
        "rules:\n  lowestEfficiency: ''\n  highestWastedBytes: [1]\n  highestUserWastedPercent: ' 0.5'\n"
    ),
    "rules that are not a mapping hide every rule": "rules: 5\n",
    "a dotted top-level key wins over the nested one": (
        "rules.lowestEfficiency: 0.3\nrules:\n  lowestEfficiency: 0.95\n"
    ),
    "a key written twice is an error": "rules:\n  lowestEfficiency: 0.5\n  lowestEfficiency: 0.6\n",
    "a document that is not a mapping is an error": "just a string\n",
}


@pytest.mark.parametrize("case", CI_FILES)
def test_a_dive_ci_file_is_read_as_dive_reads_it(case, ci_archive, dive, tmp_path, monkeypatch):
    archive, digest = ci_archive
    (tmp_path / ".dive-ci").write_text(CI_FILES[case])

    dive_code, dive_out = _dive_ci(archive, tmp_path)
    our_code, our_out = _ours_ci(digest, tmp_path, monkeypatch=monkeypatch)

    assert _ci_lines(our_out) == _ci_lines(dive_out)
    assert our_code == dive_code


def test_ci_in_the_environment_and_a_ci_config_path_work_as_for_dive(
    ci_archive, dive, tmp_path, monkeypatch
):
    archive, digest = ci_archive
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "rules.yaml").write_text(
        "rules:\n  lowestEfficiency: 0.2\n  highestUserWastedPercent: 0.9\n"
    )

    for flags in [("--ci-config", "conf/rules.yaml"), ("--ci-config", "conf/missing.yaml")]:
        dive_code, dive_out = _dive_ci(archive, tmp_path, *flags, ci_env=True)
        our_code, our_out = _ours_ci(digest, tmp_path, *flags, monkeypatch=monkeypatch, ci_env=True)
        assert _ci_lines(our_out) == _ci_lines(dive_out)
        assert our_code == dive_code
    assert "  Using default CI config" in our_out


def test_a_misconfigured_rule_fails_the_run_as_dive_does(ci_archive, dive, tmp_path, monkeypatch):
    archive, digest = ci_archive
    flags = ("--lowestEfficiency", "high", "--highestWastedBytes", "1.5.3MB")

    dive_code, dive_out = _dive_ci(archive, tmp_path, *flags)
    our_code, our_out = _ours_ci(digest, tmp_path, *flags, monkeypatch=monkeypatch)

    assert _ci_lines(our_out) == _ci_lines(dive_out)
    assert our_code == dive_code == 1
    assert "CI Misconfigured" in our_out
    assert (
        "MISCONFIGURED: lowestEfficiency: invalid config value ('high'): "
        'strconv.ParseFloat: parsing "high": invalid syntax'
    ) in our_out


# --- file names a terminal would act on ----------------------------------------------------

# Each name, then what a terminal shows in its place (lib/terminal.escaped).
HOSTILE_NAMES = {
    # Clear the screen, cursor home. (No colour: the dive tests strip dive's own colours.)
    "srv/\x1b[2J\x1b[Hhome": "srv/\\x1b[2J\\x1b[Hhome",
    "srv/\x1b]0;owned\x07title": "srv/\\x1b]0;owned\\x07title",  # retitle the window
    "srv/\u009b31mc1": "srv/\\x9b31mc1",  # a C1 CSI on its own
    "srv/del\x7f-over\rwrite": "srv/del\\x7f-over\\x0dwrite",
    "srv/gnp.\u202eexe": "srv/gnp.\\u202eexe",  # shown as "srv/exe.png"
}


@pytest.fixture
def hostile_archive(tmp_path) -> tuple[Path, str]:
    """A generated image whose wasted files have the names above: its archive and digest."""
    names = list(HOSTILE_NAMES)
    layers = [
        synth.layer([file(name, b"a" * (100 + i)) for i, name in enumerate(names)]),
        synth.layer([file(name, b"b" * (200 + i)) for i, name in enumerate(names)]),
    ]
    archive = write_archive(tmp_path, "lv/hostile:1", layers)
    [image] = ingest(f"docker-archive:{archive}")
    return archive, image.digest


def test_ci_mode_not_on_a_terminal_prints_hostile_names_byte_for_byte_as_dive_does(
    hostile_archive, dive, tmp_path, monkeypatch
):
    archive, digest = hostile_archive

    dive_code, dive_out = _dive_ci(archive, tmp_path)
    our_code, our_out = _ours_ci(digest, tmp_path, monkeypatch=monkeypatch)

    assert _ci_lines(our_out) == _ci_lines(dive_out)
    assert our_code == dive_code
    for name in HOSTILE_NAMES:
        assert f"/{name}" in our_out


@pytest.mark.django_db(transaction=True)
def test_ci_mode_on_a_terminal_shows_the_control_characters_of_names_escaped(hostile_archive):
    _archive, digest = hostile_archive

    code, shown, err = processes.manage_on_a_terminal("analyze", digest, "--ci")

    text = shown.decode()
    assert code == 1, err  # the image wastes too much: dive's rules fail it
    files = text[text.index("Inefficient Files:") : text.index("Results:")]
    for escaped in HOSTILE_NAMES.values():
        assert f"  /{escaped}\n" in files
    # Nothing a terminal would act on reached it: no ESC, no C1, no bidi override, no CR.
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)
    assert "Result:FAIL" in text


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
    archive = write_archive(tmp_path, "lv/q:1", layers, history, layout=layout)
    [image] = ingest(f"docker-archive:{archive}")
    call_command("analyze", image.digest, "--json", str(tmp_path / "ours.json"))

    _same_export(
        json.loads((tmp_path / "ours.json").read_text()), dive_json(archive, tmp_path / "dive.json")
    )


def test_a_name_that_is_not_utf8_is_exported_as_dive_writes_it(dive, tmp_path):
    layers = [
        synth.layer([file(NON_UTF8, b"a" * 500), file("keep", b"k")]),
        synth.layer([file(NON_UTF8, b"b" * 700)]),
    ]
    archive = write_archive(tmp_path, "lv/latin1:1", layers)
    [image] = ingest(f"docker-archive:{archive}")
    call_command("analyze", image.digest, "--json", str(tmp_path / "ours.json"))
    theirs = dive_json(archive, tmp_path / "dive.json")

    ours = (tmp_path / "ours.json").read_text()
    _same_export(json.loads(ours), theirs)
    # Go's encoding/json writes each byte that is not UTF-8 as the escape \ufffd.
    name = '"/caf\\ufffd/\\ufffd\\ufffd-name.txt"'
    assert name in (tmp_path / "dive.json").read_text() and name in ours
    analysis = efficiency.analyze(image)
    assert analysis.dive["wasted"] == theirs["image"]["inefficientBytes"] == 1200
    assert [(f.path, f.dive_bytes, f.reclaimable) for f in analysis.files.all()] == [
        ("/caf\\xe9/\\xff\\xfe-name.txt", 1200, 500)
    ]


# --- our own accounting -------------------------------------------------------------------


def _image(
    tmp_path: Path, layers: list[bytes], history: list[str] | None = None, tag: str = "lv/w:1"
) -> Image:
    """``ingest_image`` with instructions given as text."""
    return ingest_image(tmp_path, tag, layers, [Step(h) for h in history] if history else None)


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


def _findings(image) -> dict[str, dict]:
    return {f["code"]: f for f in efficiency.analyze(image).advice}


CACHES = {
    "cache_npm": ("RUN /bin/sh -c npm install", [("root/.npm/_cacache/content-v2/ab", 900)]),
    "cache_npm-yarn": (
        "RUN /bin/sh -c yarn install",
        [("usr/local/share/.cache/yarn/v6/npm-left-pad.tgz", 700), ("root/.cache/yarn/x", 50)],
    ),
    "cache_apk": ("RUN /bin/sh -c apk add curl", [("var/cache/apk/APKINDEX.abc.tar.gz", 1300)]),
    "cache_yum": ("RUN /bin/sh -c yum install -y git", [("var/cache/yum/x86_64/repomd.xml", 600)]),
    "cache_yum-dnf": (
        "RUN /bin/sh -c dnf install -y git",
        [("var/cache/dnf/fedora.solv", 2000), ("var/cache/dnf/updates/packages/git.rpm", 300)],
    ),
    "cache_apt": (
        "RUN /bin/sh -c apt-get install -y curl",
        [("var/cache/apt/pkgcache.bin", 4000), ("var/cache/apt/archives/curl.deb", 1000)],
    ),
}


@pytest.mark.parametrize("case", CACHES)
def test_each_package_cache_left_in_the_image_is_named_with_its_layer_and_size(case, tmp_path):
    instruction, paths = CACHES[case]
    image = _image(
        tmp_path,
        [
            synth.layer([file("etc/os-release", b"base")]),
            synth.layer([file(path, b"c" * size) for path, size in paths]),
        ],
        ["ADD file:4f2a in / ", instruction],
    )
    finding = _findings(image)[case.partition("-")[0]]

    assert finding["layers"] == [1]
    assert finding["saving"] == sum(size for _, size in paths)
    assert finding["paths"] == sorted(([p, s] for p, s in paths), key=lambda ps: -ps[1])
    assert finding["params"] == {"files": len(paths), "cleaned_in": []}


def test_a_cache_removed_by_a_later_step_is_the_cache_finding_not_only_a_deleted_file(tmp_path):
    image = _image(
        tmp_path,
        [
            synth.layer([file("var/cache/apt/archives/lock", b"")]),
            synth.layer(
                [
                    file("var/lib/apt/lists/deb.debian.org_main", b"l" * 800),
                    file("var/cache/apt/archives/curl.deb", b"d" * 1200),
                    file("usr/bin/curl", b"c" * 300),
                    file("tmp/build.log", b"b" * 40),
                ]
            ),
            synth.layer(
                [
                    whiteout("var/lib/apt/lists/deb.debian.org_main"),
                    whiteout("var/cache/apt/archives/curl.deb"),
                    whiteout("tmp/build.log"),
                ]
            ),
        ],
        [
            "ADD file:4f2a in / ",
            "RUN /bin/sh -c apt-get update && apt-get install -y curl",
            "RUN /bin/sh -c rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb /tmp/build.log",
        ],
    )
    findings = _findings(image)

    apt = findings["cache_apt"]
    assert (apt["layers"], apt["saving"], apt["params"]) == (
        [1, 2],
        2000,
        {"files": 2, "cleaned_in": [2]},
    )
    # What the cache finding explains is not told twice.
    assert findings["deleted_later"]["paths"] == [["tmp/build.log", 40]]


def test_a_cache_of_empty_files_is_not_worth_a_finding(tmp_path):
    image = _image(
        tmp_path,
        [
            synth.layer(
                [
                    file("var/cache/apt/archives/lock", b""),
                    file("var/lib/apt/lists/lock", b""),
                    directory("var/cache/apt/archives/partial"),
                    directory("var/cache/apk"),
                ]
            ),
            synth.layer([file("usr/bin/tool", b"t" * 100)]),
        ],
        ["ADD file:4f2a in / ", "RUN /bin/sh -c apt-get install -y tool"],
    )
    assert not [code for code in _findings(image) if code.startswith("cache_")]


def test_trust_store_certificates_and_symlinks_are_not_taken_for_secrets(tmp_path):
    bundle = b"-----BEGIN CERTIFICATE-----\n" + b"c" * 200
    image = _image(
        tmp_path,
        [
            synth.layer(
                [
                    file("usr/share/ca-certificates/mozilla/ACCVRAIZ1.crt", bundle),
                    symlink(
                        "etc/ssl/certs/ACCVRAIZ1.pem",
                        "/usr/share/ca-certificates/mozilla/ACCVRAIZ1.crt",
                    ),
                    file("etc/ssl/certs/ca-certificates.crt", bundle),
                    symlink("usr/lib/ssl/cert.pem", "/etc/ssl/certs/ca-certificates.crt"),
                    file("etc/pki/tls/certs/ca-bundle.pem", bundle),
                    file("usr/local/share/ca-certificates/corp.pem", bundle),
                    file("usr/lib/python3/dist-packages/pip/_vendor/certifi/cacert.pem", bundle),
                ]
            ),
            synth.layer(
                [
                    symlink("app/tls.pem", "/run/secrets/tls.pem"),  # points at a mounted secret
                    file("app/tls.key", b"-----BEGIN PRIVATE KEY-----\n" + b"k" * 90),
                ]
            ),
        ],
        ["ADD file:4f2a in / ", "COPY tls /app"],
    )
    secrets = _findings(image)["secrets"]

    assert secrets["paths"] == [["app/tls.key", 118]]
    assert secrets["layers"] == [1]


def test_a_secret_deleted_by_a_later_step_is_still_flagged_in_the_layer_that_added_it(tmp_path):
    image = _image(
        tmp_path,
        [
            synth.layer([file("etc/os-release", b"base")]),
            synth.layer([file("root/.ssh/id_rsa", b"k" * 1700)]),
            synth.layer([file("app/go.sum", b"s" * 300)]),
            synth.layer([whiteout("root/.ssh/id_rsa")]),
        ],
        [
            "ADD file:4f2a in / ",
            "COPY id_rsa /root/.ssh/id_rsa",
            "RUN /bin/sh -c go mod download",
            "RUN /bin/sh -c rm /root/.ssh/id_rsa",
        ],
    )
    findings = _findings(image)

    assert findings["secrets"]["paths"] == [["root/.ssh/id_rsa", 1700]]
    assert findings["secrets"]["layers"] == [1]
    assert findings["secrets"]["params"] == {"files": 1, "hidden": 1}
    assert findings["copied_then_deleted"]["layers"] == [1, 3]  # a COPY: .dockerignore, not a RUN


def test_build_context_clutter_is_looked_for_in_copied_layers_but_not_in_the_base_rootfs(tmp_path):
    image = _image(
        tmp_path,
        [
            synth.layer([file("usr/lib/python3/__pycache__/os.cpython-311.pyc", b"p" * 900)]),
            synth.layer([file("opt/vendor/__pycache__/v.pyc", b"v" * 800)]),
            synth.layer(
                [
                    file("app/main.py", b"m" * 10),
                    file("app/__pycache__/main.cpython-312.pyc", b"c" * 400),
                    file("app/node_modules/left-pad/index.js", b"n" * 250),
                ]
            ),
            synth.layer([file("usr/lib/node_modules/npm/index.js", b"i" * 600)]),
        ],
        [
            "ADD file:4f2a in / ",
            "ADD file:77e1 in / ",
            "COPY . /app",
            "RUN /bin/sh -c npm install -g npm",
        ],
    )
    junk = _findings(image)["context_junk"]

    assert junk["layers"] == [2]
    assert junk["saving"] == 650
    assert junk["paths"] == [
        ["app/__pycache__/main.cpython-312.pyc", 400],
        ["app/node_modules/left-pad/index.js", 250],
    ]


def test_without_history_clutter_is_looked_for_in_every_layer_above_the_lowest(tmp_path):
    image = _image(
        tmp_path,
        [
            synth.layer([file("usr/lib/python3/__pycache__/os.pyc", b"p" * 900)]),
            synth.layer([file("srv/__pycache__/app.pyc", b"c" * 300)]),
        ],
        ["", ""],
    )
    junk = _findings(image)["context_junk"]
    assert (junk["layers"], junk["saving"]) == ([1], 300)


METADATA_STEPS = {
    "chmod_step": ("RUN /bin/sh -c chown -R 1000 /app/data.bin", {"uid": 1000}),
    "metadata_rewrite": ("RUN /bin/sh -c touch /app/data.bin", {"mtime": 1_710_000_000}),
}


@pytest.mark.parametrize("code", METADATA_STEPS)
def test_a_step_that_changes_only_metadata_is_charged_a_whole_copy(code, tmp_path):
    instruction, change = METADATA_STEPS[code]
    image = _image(
        tmp_path,
        [
            synth.layer([file("etc/os-release", b"base")]),
            synth.layer([file("app/run.sh", b"r" * 700), file("app/data.bin", b"d" * 2000)]),
            synth.layer([file("app/data.bin", b"d" * 2000, **change)]),
        ],
        ["ADD file:4f2a in / ", "COPY app /app", instruction],
    )
    finding = _findings(image)[code]

    assert (finding["layers"], finding["saving"]) == ([1, 2], 2000)
    assert finding["paths"] == [["app/data.bin", 2000]]
    assert finding["params"] == {"files": 1, "instruction": instruction.replace("/bin/sh -c ", "")}


def test_each_step_is_charged_the_bytes_later_steps_undo_and_told_which_steps(tmp_path):
    image = _image(
        tmp_path,
        [
            synth.layer(
                [
                    file("a", b"a" * 100),
                    file("b", b"b" * 200),
                    file("c", b"c" * 300),
                    file("d", b"d" * 50),
                ]
            ),
            synth.layer([file("a", b"A" * 150), file("e", b"e" * 400)]),
            synth.layer([whiteout("b"), whiteout("e")]),
            synth.layer([file("c", b"c" * 300, mode=0o755), file("a", b"A" * 150)]),
        ],
        ["ADD file:4f2a in / ", "RUN /bin/sh -c make", "RUN /bin/sh -c rm b e", "RUN chmod +x c"],
    )
    per_layer = efficiency.analyze(image).ours["per_layer"]

    assert per_layer == [
        # a overwritten by #2, b deleted by #3, c rewritten for its mode by #4
        {"layer": 0, "wasted": 600, "files": 3, "undone_by": [[1, 100], [2, 200], [3, 300]]},
        # e deleted by #3, a copied again byte for byte by #4
        {"layer": 1, "wasted": 550, "files": 2, "undone_by": [[2, 400], [3, 150]]},
        {"layer": 2, "wasted": 0, "files": 0, "undone_by": []},
        {"layer": 3, "wasted": 0, "files": 0, "undone_by": []},
    ]


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


@pytest.mark.django_db(transaction=True)
def test_a_background_ingest_stores_the_analysis_of_the_image_it_indexed(tmp_path):
    layers = [synth.layer([file("a", b"1" * 100)]), synth.layer([whiteout("a")])]
    job = enqueue(IngestRequest(f"docker-archive:{write_archive(tmp_path, 'lv/task:1', layers)}"))

    processes.run_worker()

    job.refresh_from_db()
    assert job.state == JobState.DONE, job.error
    analysis = Analysis.objects.get(image=job.images.get())
    assert analysis.version == Analysis.VERSION
    assert analysis.ours["reclaimable"] == 100


def test_an_analysis_that_fails_is_logged_and_the_ingest_still_succeeds(
    tmp_path, monkeypatch, caplog
):
    archive = write_archive(tmp_path, "lv/task:2", [synth.layer([file("a", b"1")])])
    job = IngestJob.objects.create(source=f"docker-archive:{archive}")

    def broken(image, **kwargs):
        raise RuntimeError("no room left")

    monkeypatch.setattr(efficiency, "analyze", broken)
    digests = ingest_job.call(job.pk)

    job.refresh_from_db()
    assert job.state == JobState.DONE and [i.digest for i in job.images.all()] == digests
    assert not Analysis.objects.exists()
    assert "efficiency analysis of" in caplog.text and "no room left" in caplog.text


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

    with pytest.raises(CommandError, match="No indexed image is named"):
        call_command("analyze", "lv/none:1")


def test_empty_files_deleted_later_are_not_advice_and_a_cleaned_cache_is_told_once(tmp_path):
    image = _image(
        tmp_path,
        [
            synth.layer([file("etc/os-release", b"base")]),
            synth.layer(
                [
                    file("var/lib/apt/lists/lock", b""),
                    file("var/cache/debconf/passwords.dat-old", b""),
                    file("var/lib/apt/lists/deb.debian.org_main", b"l" * 800),
                ]
            ),
            synth.layer(
                [
                    whiteout("var/lib/apt/lists/lock"),
                    whiteout("var/cache/debconf/passwords.dat-old"),
                    whiteout("var/lib/apt/lists/deb.debian.org_main"),
                ]
            ),
        ],
        [
            "ADD file:4f2a in / ",
            "RUN /bin/sh -c apt-get update",
            "RUN /bin/sh -c rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old",
        ],
    )
    findings = efficiency.analyze(image).advice

    assert [f["code"] for f in findings] == ["cache_apt"]
    assert findings[0]["saving"] == 800


def test_files_copied_in_and_deleted_later_are_advised_a_dockerignore_not_a_merged_run(tmp_path):
    image = _image(
        tmp_path,
        [
            synth.layer([file("etc/os-release", b"base")]),
            synth.layer([file("app/main.py", b"m" * 10), file("app/test-data.bin", b"t" * 700)]),
            synth.layer([whiteout("app/test-data.bin")]),
        ],
        ["ADD file:4f2a in / ", "COPY . /app", "RUN /bin/sh -c rm /app/test-data.bin"],
    )
    findings = _findings(image)

    assert "deleted_later" not in findings
    assert findings["copied_then_deleted"]["layers"] == [1, 2]
    assert findings["copied_then_deleted"]["paths"] == [["app/test-data.bin", 700]]


def test_a_copy_from_another_stage_is_not_build_context_but_a_copied_dockerfile_is(tmp_path):
    image = _image(
        tmp_path,
        [
            synth.layer([file("etc/os-release", b"base")]),
            synth.layer([file("opt/venv/lib/__pycache__/site.cpython-312.pyc", b"p" * 900)]),
            synth.layer(
                [
                    file("app/main.py", b"m" * 10),
                    file("app/Dockerfile", b"FROM x\n" * 20),
                    file("app/.dockerignore", b".git\n"),
                ]
            ),
        ],
        [
            "ADD file:4f2a in / ",
            "COPY --from=builder /opt/venv /opt/venv # buildkit",
            "COPY . /app # buildkit",
        ],
    )
    junk = _findings(image)["context_junk"]

    assert junk["layers"] == [2]
    assert sorted(path for path, _ in junk["paths"]) == ["app/.dockerignore", "app/Dockerfile"]


def test_a_dockerfile_deeper_than_the_top_of_the_copy_is_data_not_the_build_file(tmp_path):
    # layerviz's own image ships its lessons' Dockerfiles, which `manage.py lessons` reads.
    image = _image(
        tmp_path,
        [
            synth.layer([file("etc/os-release", b"base")]),
            synth.layer(
                [
                    file("app/manage.py", b"m" * 10),
                    file("app/lessons/dockerfiles/blog/Dockerfile", b"FROM x\n" * 20),
                    file("app/lessons/dockerfiles/shop/compose.yaml", b"services: {}\n"),
                ]
            ),
            synth.layer([file("srv/Dockerfile.prod", b"FROM y\n" * 20)]),
        ],
        ["ADD file:4f2a in / ", "COPY dir:8f3a in /app/ ", "COPY file:77b1 in /srv/ "],
    )
    junk = _findings(image)["context_junk"]

    assert junk["paths"] == [["srv/Dockerfile.prod", 140]]


def test_what_advice_saves_in_wasted_copies_never_exceeds_what_is_reclaimable(tmp_path):
    image = _image(
        tmp_path,
        [
            synth.layer([file("usr/bin/gcc-12", b"g" * 5000), file("etc/os-release", b"base")]),
            synth.layer(
                [file("var/cache/apt/archives/x.deb", b"d" * 900), file("tmp/o", b"o" * 300)]
            ),
            synth.layer([whiteout("tmp/o"), file("root/.cache/pip/w", b"w" * 200)]),
        ],
        [
            "ADD file:4f2a in / ",
            "RUN /bin/sh -c apt-get install -y gcc",
            "RUN /bin/sh -c rm /tmp/o && pip install x",
        ],
    )
    analysis = efficiency.analyze(image)
    reclaimable = analysis.figures.ours.reclaimable
    findings = {f.code: f for f in analysis.figures.advice}

    assert findings["toolchain"].in_image == findings["toolchain"].saving == 5000
    assert findings["cache_apt"].in_image == 900
    assert findings["deleted_later"].in_image == 0
    for finding in findings.values():
        assert finding.saving - finding.in_image <= reclaimable, finding.code
