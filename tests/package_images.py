"""The images the package tests build with the real engine (tests/dockerfiles/packages-*).

Each is built on the benchmarks' Debian base (``lvbench/debian:bookworm``, made with
debootstrap by ``tests/benchmarks/real_images.py``) with ``--network host``, since apt, pip and
npm download, through the same proxy and extra-CA arrangements as the benchmark images. Each
image carries a label with a hash of its recipe (the context's files and the base's ID), so a
rerun whose recipe did not change builds nothing; the engine's cache covers a partial rerun.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .benchmarks import real_images

DOCKERFILES = Path(__file__).resolve().parent / "dockerfiles"
IMAGES = {"python": "lv/packages-python:1", "node": "lv/packages-node:1"}
LABEL = "layerviz.test.recipe"


def problem() -> str | None:
    return real_images.engine_problem()


def _recipe(context: Path, base_id: str) -> str:
    digest = hashlib.sha256(base_id.encode())
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(context)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build(name: str) -> str:
    """Build ``IMAGES[name]`` unless an image of the same recipe is there; its reference."""
    ref = IMAGES[name]
    base = real_images._inspect(real_images.build_base())
    assert base is not None
    context = DOCKERFILES / f"packages-{name}"
    wanted = _recipe(context, base["Id"])
    old = real_images._inspect(ref)
    if ((old or {}).get("Config") or {}).get("Labels", {}).get(LABEL) == wanted:
        return ref
    log = real_images._log(f"packages-{name}")
    log.write_text("")
    cmd = ["docker", "build", "--network", "host", "--rm", "--force-rm"]
    cmd += ["--label", f"{LABEL}={wanted}", "-t", ref]
    with real_images._ca_url() as ca_url:
        cmd += real_images._transport_args(ca_url)
        cmd.append(str(context))
        real_images._run_logged(cmd, log, f"docker build of {ref}")
    return ref


def save(ref: str, path: Path) -> Path:
    done = real_images._docker("save", "-o", str(path), ref, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"docker save {ref} failed: {done.stderr.strip()}")
    return path


def run(ref: str, *command: str) -> str:
    """``docker run --rm --network none REF COMMAND``: its standard output."""
    done = real_images._docker(
        "run", "--rm", "--network", "none", ref, *command, capture_output=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} in {ref} failed: {done.stderr.strip()}")
    return done.stdout
