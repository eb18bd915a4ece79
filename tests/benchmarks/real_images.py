"""Real benchmark images: built by a real Docker engine from a Debian rootfs, with real packages.

    .venv/bin/python tests/benchmarks/real_images.py [python node 25k 100k 500k ...]

bench_ingest.py's own archive is synthetic (random bytes in made-up trees). These images are
the other half of the comparison: what a user actually feeds the indexer, with the file-size
mix, directory shapes, hard links, symlinks, whiteout-free apt/pip/npm layers and tar headers
that only real tools produce.

- ``lvbench/debian:bookworm``: ``debootstrap --variant=minbase bookworm`` from deb.debian.org,
  apt's downloaded lists and caches removed (as Debian's official images do), ``docker import``ed.
  Nothing can be pulled here, so this is the base of everything else.
- ``lvbench/python:1``: Debian's python3, pip, venv and gcc (with apt's recommends: a fat image),
  then numpy, scipy, pandas and matplotlib from PyPI. About 1 GB, 20k+ entries.
- ``lvbench/node:1``: Debian's nodejs and npm, then ``npm ci`` of a front-end project
  (tests/benchmarks/real/node/package.json). About 1.4 GB, 60k+ entries.
- ``lvbench/growth:25k|100k|500k``: the base plus one RUN layer of 25k, 100k or 500k small
  files copied from the base's own /usr/share, /usr/lib and /etc: one image shape at three
  sizes, to see how ingest time and memory grow with the file count.

The Dockerfiles and their context are under tests/benchmarks/real/. Each image carries a label
with a hash of its recipe (context files, build args, base image ID), so a rerun skips every
image whose recipe did not change, and rebuilds the ones whose recipe did. ``saved()`` writes
``docker save`` archives (the legacy format, layer tars inside) to var/bench/real/NAME.tar and
rewrites one only when its image changed.

Builds run the docker CLI with DOCKER_BUILDKIT=0 (the classic builder, which a plain Debian
docker.io engine has) and ``--network host`` for the steps that reach a package registry, so a
build sees exactly the network, proxy and mirror this machine sees. The environment's proxy
variables are passed through as Docker's predefined proxy build args (kept out of the image
history). Where outbound TLS is intercepted, the locally added CAs (Debian's
/usr/local/share/ca-certificates, or the files named in LVBENCH_EXTRA_CA) are served on
loopback while the build runs, and its download steps fetch them by the EXTRA_CA_URL build arg:
they are trusted for that step only and never land in a layer or in the image history.
LVBENCH_PIP_INDEX_URL and LVBENCH_NPM_REGISTRY point the builds at another index or registry.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTEXTS = Path(__file__).resolve().parent / "real"
OUT = ROOT / "var" / "bench" / "real"


# layerviz's own image is built the same way: one copy of the rules for whether debootstrap can
# run here, for unmounting what it leaves mounted, for the proxies and for the extra CAs.
sys.path.insert(0, str(ROOT))
from tools.image import build as _image_build  # noqa: E402

BASE = "lvbench/debian:bookworm"
REAL = {"python": "lvbench/python:1", "node": "lvbench/node:1"}
GROWTH = {"25k": "lvbench/growth:25k", "100k": "lvbench/growth:100k", "500k": "lvbench/growth:500k"}

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# What the base drops after debootstrap: apt's package lists and caches (every Dockerfile here
# runs apt-get update itself, like Debian's official images expect) and debootstrap's log.
BASE_CLEAN = ("var/lib/apt/lists", "var/cache/apt", "var/log/bootstrap.log")
BASE_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LABEL = "lvbench.recipe"
CA_PORT = 47531


@dataclass(frozen=True)
class Recipe:
    ref: str
    context: str  # directory under tests/benchmarks/real/
    args: dict[str, str] = field(default_factory=dict)  # build args that shape the content
    network: bool = False  # a step downloads from a package registry


RECIPES = {
    "python": Recipe(REAL["python"], "python", network=True),
    "node": Recipe(REAL["node"], "node", network=True),
    "25k": Recipe(GROWTH["25k"], "growth", {"FILES": "25000"}),
    "100k": Recipe(GROWTH["100k"], "growth", {"FILES": "100000"}),
    "500k": Recipe(GROWTH["500k"], "growth", {"FILES": "500000"}),
}
ALL = ("base", *RECIPES)


def _env() -> dict[str, str]:
    # The classic builder: BuildKit is not part of Debian's docker.io engine here. The CLI
    # negotiates the API version with the daemon by itself (28.x client, 20.10 daemon: 1.41).
    return {**os.environ, "DOCKER_BUILDKIT": "0"}


def _docker(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], env=_env(), text=True, **kwargs)


def _inspect(ref: str) -> dict | None:
    done = _docker("image", "inspect", ref, capture_output=True)
    return json.loads(done.stdout)[0] if done.returncode == 0 else None


def _label(image: dict | None) -> str | None:
    if image is None:
        return None
    return ((image.get("Config") or {}).get("Labels") or {}).get(LABEL)


def engine_problem() -> str | None:
    """Why the images cannot be built here, or None when they can."""
    if shutil.which("docker") is None:
        return "the docker CLI is not installed"
    try:
        done = _docker(
            "version", "--format", "{{.Server.Version}}", capture_output=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        done = None
    if done is None or done.returncode != 0:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        detail = done.stderr.strip().splitlines()[-1:] if done else ["timed out"]
        return f"no Docker engine answers at {where} ({' '.join(detail)}); set DOCKER_HOST"
    if _inspect(BASE) is None:
        return _image_build.cannot_make()
    return None


def _base_recipe() -> str:
    return hashlib.sha256(
        json.dumps([SUITE, "minbase", MIRROR, BASE_CLEAN, BASE_ENV]).encode()
    ).hexdigest()


def _recipe(recipe: Recipe, base_id: str) -> str:
    digest = hashlib.sha256(json.dumps([base_id, sorted(recipe.args.items())]).encode())
    context = CONTEXTS / recipe.context
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(context)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _log(name: str) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT / f"{name}.build.log"


def _run_logged(cmd: list[str], log: Path, what: str, **kwargs) -> None:
    with open(log, "a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=_env(), **kwargs)
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
        raise RuntimeError(f"{what} failed (exit {done.returncode}); see {log}:\n{tail}")


def build_base(rebuild: bool = False) -> str:
    """Make lvbench/debian:bookworm with debootstrap and docker import (skipped when present)."""
    recipe = _base_recipe()
    old = _inspect(BASE)
    if not rebuild and _label(old) == recipe:
        return BASE
    log = _log("base")
    log.write_text("")
    print(f"building {BASE} (debootstrap; log: {log})", file=sys.stderr, flush=True)
    work = Path(tempfile.mkdtemp(prefix="rootfs-", dir=OUT))
    rootfs = work / "rootfs"
    try:
        _run_logged(
            ["debootstrap", "--variant=minbase", SUITE, str(rootfs), MIRROR], log, "debootstrap"
        )
        _image_build.unmount_under(rootfs)
        for rel in BASE_CLEAN:
            target = rootfs / rel
            if target.is_dir():
                # Keep the directory (apt expects it), drop its contents.
                for child in target.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
            elif target.exists():
                target.unlink()
        (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
        (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
        archive = work / "rootfs.tar"
        _run_logged(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", str(archive), "."],
            log,
            "tar of the rootfs",
        )
        _run_logged(
            [
                "docker",
                "import",
                "--change",
                f"LABEL {LABEL}={recipe}",
                "--change",
                f"ENV {BASE_ENV}",
                "--change",
                'CMD ["bash"]',
                str(archive),
                BASE,
            ],
            log,
            "docker import",
        )
    finally:
        _image_build.unmount_under(rootfs)
        shutil.rmtree(work, ignore_errors=True)
    _drop_superseded(old, BASE)
    return BASE


@contextlib.contextmanager
def _ca_url() -> Iterator[str]:
    """Serve the extra CAs on loopback for the build's download step; "" when there are none.

    A build arg holding the PEM itself would be copied into the history of every later step
    (the classic builder prefixes each RUN's history with its args), and a COPY would leave it
    in a layer; a URL is short, and the build (``--network host``) fetches it for one step.
    """
    body = _image_build.extra_ca_pem("LVBENCH_EXTRA_CA").encode()
    if not body:
        yield ""
        return

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-pem-file")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    try:
        # A fixed port keeps the step's build arg, and so the engine's layer cache, stable.
        server = ThreadingHTTPServer(("127.0.0.1", CA_PORT), Handler)
    except OSError:  # taken (another build running): any free port
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/extra-ca.pem"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _transport_args(ca_url: str) -> list[str]:
    # How to reach the registries, not what the image holds: left out of the recipe hash.
    args = _image_build.proxy_build_args()
    if ca_url:
        args += ["--build-arg", f"EXTRA_CA_URL={ca_url}"]
    for env, arg in (
        ("LVBENCH_PIP_INDEX_URL", "PIP_INDEX_URL"),
        ("LVBENCH_NPM_REGISTRY", "NPM_REGISTRY"),
    ):
        if os.environ.get(env):
            args += ["--build-arg", f"{arg}={os.environ[env]}"]
    return args


def _drop_superseded(old: dict | None, ref: str) -> None:
    # The image the tag pointed at before a rebuild is left untagged; a few GB each. Remove it
    # (with its untagged parents) if it was one of ours and nothing else uses it.
    new = _inspect(ref)
    if old is None or _label(old) is None or new is None or new["Id"] == old["Id"]:
        return
    _docker("rmi", old["Id"], capture_output=True)  # fails harmlessly if still in use


def build(name: str, rebuild: bool = False) -> str:
    """Build image ``name`` (a key of REAL or GROWTH, or "base") if its recipe changed; its ref.

    ``rebuild`` builds it again from scratch (no engine layer cache), on the base as it is.
    """
    if name == "base":
        return build_base(rebuild)
    if name not in RECIPES:
        raise KeyError(f"unknown benchmark image {name!r}; known: {', '.join(ALL)}")
    recipe = RECIPES[name]
    base = _inspect(build_base())
    assert base is not None
    wanted = _recipe(recipe, base["Id"])
    old = _inspect(recipe.ref)
    if not rebuild and _label(old) == wanted:
        return recipe.ref
    log = _log(name)
    log.write_text("")
    print(f"building {recipe.ref} (log: {log})", file=sys.stderr, flush=True)
    cmd = ["docker", "build", "--network", "host" if recipe.network else "none"]
    cmd += ["--rm", "--force-rm", "--label", f"{LABEL}={wanted}", "-t", recipe.ref]
    if rebuild:
        cmd.append("--no-cache")
    for key, value in recipe.args.items():
        cmd += ["--build-arg", f"{key}={value}"]
    with _ca_url() if recipe.network else contextlib.nullcontext("") as ca_url:
        if recipe.network:
            cmd += _transport_args(ca_url)
        cmd.append(str(CONTEXTS / recipe.context))
        _run_logged(cmd, log, f"docker build of {recipe.ref}")
    _drop_superseded(old, recipe.ref)
    return recipe.ref


def _created(image: dict) -> float:
    # "2026-05-09T12:34:56.123456789Z": fromisoformat takes at most microseconds.
    stamp = image["Created"].rstrip("Z")
    whole, _, frac = stamp.partition(".")
    return datetime.fromisoformat(f"{whole}.{(frac or '0')[:6]}+00:00").timestamp()


def archive_path(name: str) -> Path:
    """Where ``saved(name)`` keeps the image's docker-archive (whether or not it exists yet)."""
    return OUT / f"{name}.tar"


def saved(name: str, rebuild: bool = False) -> Path:
    """Build image ``name`` if needed, ``docker save`` it if needed; the archive's path."""
    ref = build(name, rebuild)
    image = _inspect(ref)
    assert image is not None
    target = archive_path(name)
    stamp = target.with_suffix(".id")  # the image ID the archive was saved from
    if (
        target.exists()
        and target.stat().st_mtime > _created(image)
        and stamp.exists()
        and stamp.read_text().strip() == image["Id"]
    ):
        return target
    print(f"saving {ref} to {target}", file=sys.stderr, flush=True)
    partial = target.with_suffix(".tar.partial")
    done = _docker("save", "-o", str(partial), ref, capture_output=True)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"docker save {ref} failed: {done.stderr.strip()}")
    partial.replace(target)
    stamp.write_text(image["Id"] + "\n")
    return target


def stats(archive: Path) -> dict:
    """Size, layer count and tar entries (per layer and in all) of a docker-save archive."""
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        per_layer: list[int] = []
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer), mode="r|") as inner:
                per_layer.append(sum(1 for _ in inner))
    return {
        "size": archive.stat().st_size,
        "layers": len(per_layer),
        "entries": sum(per_layer),
        "per_layer": per_layer,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names", nargs="*", default=list(RECIPES), help=f"any of {', '.join(ALL)} (default: all)"
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="build the named images again without the engine's layer cache",
    )
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in ALL]
    if unknown:
        parser.error(f"unknown image(s): {', '.join(unknown)}")
    problem = engine_problem()
    if problem:
        print(f"cannot build: {problem}", file=sys.stderr)
        return 2
    for name in args.names:
        start = time.monotonic()
        ref = build(name, args.rebuild)
        built = time.monotonic()
        archive = saved(name)
        done = time.monotonic()
        info = stats(archive)
        print(
            f"{name}: {ref} {archive} size={info['size']} layers={info['layers']} "
            f"entries={info['entries']} per_layer={info['per_layer']} "
            f"build_s={built - start:.1f} save_s={done - built:.1f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
