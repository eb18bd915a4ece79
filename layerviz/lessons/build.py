"""The lesson images built by a real Docker engine (``manage.py lessons --build``).

Nothing can be pulled and a build has no network, so:

1. The base is ``docker import``-ed from a root filesystem made of the offline base's files
   (``images.base_entries``), sizes divided by ``SCALE`` so the engine copies little, with
   Debian's static busybox standing in for the tools RUN lines call (sh, tar, rm, ln…) and the
   simulators in ``simulator/`` as ``apt-get``, ``pip`` and ``make`` in /usr/local/bin. Their
   "archives" are tars in /var/lib/lessons, made here from the same package lists as the
   offline set.
2. Each Dockerfile in ``dockerfiles/`` is built in ``images.PLAN`` order with the classic
   builder, ``PREFIX=lesson-built``; the contexts are written with the files' fixed mtimes.
   The engine's cache then reuses and rebuilds the same steps as the offline model does.
3. The images are ingested from the engine (``docker-daemon:``) as ``lesson-built/…``.

Sizes are smaller than the offline set's; layer counts, shared layers and the direction of
every size difference the lessons point at are the same (tests/test_lessons.py checks).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from layerviz.adapters import docker_engine
from layerviz.images import efficiency
from layerviz.images.ingest import ingest
from layerviz.lib import synth
from layerviz.lib.errors import SourceError
from layerviz.lib.tarwriter import Entry, file, symlink

from . import files, images
from .files import MTIME

PREFIX = "lesson-built"
SCALE = 32
BUSYBOX = Path("/bin/busybox")
SIMULATOR = Path(__file__).resolve().parent / "simulator"
# What the Dockerfiles' RUN lines and the simulators run: busybox applets in the built base.
APPLETS = [
    "sh",
    "cat",
    "chmod",
    "cp",
    "date",
    "echo",
    "head",
    "ln",
    "ls",
    "mkdir",
    "mv",
    "rm",
    "sed",
    "tar",
    "touch",
    "tr",
    "wc",
    "gzip",
    "gunzip",
    "test",
    "dirname",
    "basename",
    "env",
    "printf",
    "true",
    "false",
]


def base_rootfs() -> bytes:
    if not BUSYBOX.exists():
        raise SourceError("--build needs Debian's static busybox at /bin/busybox (busybox-static)")
    entries = {e.path.decode(): e for e in images.base_entries(SCALE)}
    for applet in APPLETS:
        for folder in ("usr/bin", "usr/sbin"):
            entries.pop(f"{folder}/{applet}", None)
        entries[f"usr/bin/{applet}"] = symlink(f"usr/bin/{applet}", "busybox")
    entries["usr/bin/busybox"] = file("usr/bin/busybox", BUSYBOX.read_bytes(), mode=0o755)
    for script in sorted(SIMULATOR.iterdir()):
        path = f"usr/local/bin/{script.name}"
        entries[path] = file(path, script.read_bytes(), mode=0o755)
    for entry in _archives():
        entries[entry.path.decode()] = entry
    return synth.layer(entries[p] for p in sorted(entries))


def _archives() -> list[Entry]:
    """The simulators' archives: a tar per package and per distribution, the package lists."""
    out = [
        file("var/lib/lessons/apt/lists.tar", _tar(files.entries(files.apt_lists(), scale=SCALE)))
    ]
    for name, package in files.apt_packages().items():
        contents = files.entries(package.files, scale=SCALE)
        contents += files.dpkg_info_entries(package, MTIME)
        out.append(file(f"var/lib/lessons/apt/{name}.tar", _tar(contents)))
        out.append(file(f"var/lib/lessons/apt/{name}.status", package.stanza))
        out.append(file(f"var/lib/lessons/apt/{name}.version", package.version.encode()))
    for name, specs in files.pip_dists().items():
        out.append(file(f"var/lib/lessons/pip/{name}.tar", _tar(files.entries(specs, scale=SCALE))))
        cache = files.entries(files.pip_cache([name]), scale=SCALE)
        out.append(file(f"var/lib/lessons/pip/{name}.cache.tar", _tar(cache)))
    return out


def _tar(entries: list[Entry]) -> bytes:
    return synth.layer(entries)


def write_context(planned: images.Planned, folder: Path) -> Path:
    """The build context on disk, every file and directory at the fixed checkout time."""
    if folder.exists():
        shutil.rmtree(folder)
    for name, (data, mode) in images.context(planned, SCALE).items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
    for path in sorted(folder.rglob("*"), reverse=True):
        os.utime(path, (MTIME, MTIME), follow_symlinks=False)
    return folder


def built_tag(tag: str) -> str:
    """``lesson/x:1`` -> ``lesson-built/x:1``."""
    return PREFIX + tag.removeprefix(images.PREFIX)


def _import_base() -> None:
    """``lesson-built/debian:12``, imported again only when its root filesystem changed: a
    new import is a new parent for every step, so it would empty the build cache."""
    base = built_tag(f"{images.PREFIX}/{images.BASE}")
    rootfs = base_rootfs()
    try:
        layers = docker_engine.image_inspect(ref=base)["RootFS"]["Layers"]
    except SourceError:
        layers = []
    if layers == [synth.sha256(rootfs)]:
        return
    repository, _, tag = base.partition(":")
    changes = [f"ENV {images.BASE_ENV[0]}", "CMD " + json.dumps(images.BASE_CMD)]
    docker_engine.image_import(data=rootfs, repository=repository, tag=tag, changes=changes)


def build_and_ingest(folder: Path) -> list[str]:
    """Import the base, build ``PLAN``, ingest every image; the ``lesson-built/…`` tags."""
    if not docker_engine.ping():
        raise SourceError("--build needs a Docker engine: none answers (set DOCKER_HOST)")
    _import_base()
    for planned in images.PLAN:
        context = write_context(planned, folder / f"{planned.name}-{planned.version}")
        docker_engine.image_build(
            path=str(context),
            tag=planned.tag(PREFIX),
            target=planned.target or None,
            buildargs={"PREFIX": PREFIX},
        )
    tags = [built_tag(t) for t in images.TAGS]
    for tag in tags:
        efficiency.analyze_ingested(ingest(f"docker-daemon:{tag}"))
    return tags
