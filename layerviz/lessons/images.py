"""The lesson images, offline: each Dockerfile in ``dockerfiles/`` built by the model of the
classic builder in ``classic.py``, on a Debian base made of ``files.py``'s packages.

The Dockerfiles are the one definition of the lessons: ``--build`` hands them to a real
engine, and here each instruction is read and carried out on the model (``RUN`` lines by the
few commands they use: ``apt-get``, ``pip``, ``rm``, ``tar``, ``make``…). Both sets are built in
``PLAN`` order by one builder, so the build cache shares and rebuilds the same steps in both.

``TAGS`` names every image, ``LESSONS`` the images each lesson uses, ``CONTRASTS`` the size
differences the lessons point at. ``write_archive`` writes them all into one ``docker save``
archive (shared layers stored once); the same bytes, so the same digests, on every run.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import gzip
import hashlib
import io
import json
import random
import shlex
import tarfile
from collections.abc import Callable
from pathlib import Path

from layerviz.lib import synth
from layerviz.lib.tarwriter import Entry, directory, file, symlink

from . import files
from .classic import Builder, Filesystem, Stage, parent_of
from .files import ELF, MTIME, Spec

DOCKERFILES = Path(__file__).resolve().parent / "dockerfiles"
PREFIX = "lesson"
BASE = "debian:12"
BASE_ENV = list(synth.DEFAULT_ENV)
BASE_CMD = ["bash"]
CHANGED_LINE = ('VERSION = "1.0"', 'VERSION = "1.1"')  # the one-line change of every 1.1


@dataclasses.dataclass(frozen=True)
class Planned:
    """One image to build: ``name:version`` from ``dockerfiles/<folder>``."""

    name: str
    version: str
    folder: str
    target: str = ""  # a stage to stop at (``docker build --target``)
    changed: bool = False  # with the one-line source change

    def tag(self, prefix: str = PREFIX) -> str:
        return f"{prefix}/{self.name}:{self.version}"


PLAN = [
    Planned("python", "3.12", "python"),
    Planned("layers", "1.0", "layers"),
    Planned("shop", "1.0", "shop"),
    Planned("blog", "1.0", "blog"),
    Planned("gallery", "1.0", "gallery"),
    Planned("secret", "1.0", "secret"),
    Planned("apt-split", "1.0", "apt-split"),
    Planned("apt-merged", "1.0", "apt-merged"),
    Planned("chmod", "1.0", "chmod"),
    Planned("context-all", "1.0", "context-all"),
    Planned("context-ignored", "1.0", "context-ignored"),
    Planned("multi-stage-builder", "1.0", "multi-stage", target="builder"),
    Planned("multi-stage", "1.0", "multi-stage"),
    Planned("single-stage", "1.0", "single-stage"),
    Planned("cache-bad", "1.0", "cache-bad"),
    Planned("cache-bad", "1.1", "cache-bad", changed=True),
    Planned("cache-good", "1.0", "cache-good"),
    Planned("cache-good", "1.1", "cache-good", changed=True),
]

TAGS = [f"{PREFIX}/{BASE}", *(p.tag() for p in PLAN)]
LESSONS = {
    "layers": ["lesson/debian:12", "lesson/layers:1.0"],
    "sharing": ["lesson/python:3.12", "lesson/shop:1.0", "lesson/blog:1.0", "lesson/gallery:1.0"],
    "writable": ["lesson/layers:1.0"],
    "whiteouts": ["lesson/secret:1.0"],
    "size": [
        "lesson/debian:12",
        "lesson/apt-split:1.0",
        "lesson/apt-merged:1.0",
        "lesson/chmod:1.0",
        "lesson/context-all:1.0",
        "lesson/context-ignored:1.0",
        "lesson/single-stage:1.0",
        "lesson/multi-stage:1.0",
        "lesson/multi-stage-builder:1.0",
    ],
    "union": ["lesson/layers:1.0", "lesson/secret:1.0"],
    "cache": [
        "lesson/cache-bad:1.0",
        "lesson/cache-bad:1.1",
        "lesson/cache-good:1.0",
        "lesson/cache-good:1.1",
    ],
}
# (smaller, larger): the size differences the lessons point at, in both sets.
CONTRASTS = [
    ("lesson/debian:12", "lesson/python:3.12"),
    ("lesson/shop:1.0", "lesson/gallery:1.0"),
    ("lesson/apt-merged:1.0", "lesson/apt-split:1.0"),
    ("lesson/context-ignored:1.0", "lesson/context-all:1.0"),
    ("lesson/multi-stage:1.0", "lesson/single-stage:1.0"),
    ("lesson/multi-stage:1.0", "lesson/multi-stage-builder:1.0"),
    ("lesson/debian:12", "lesson/chmod:1.0"),
]


# --- the base -----------------------------------------------------------------------------


MERGED_USR = [("bin", "usr/bin"), ("sbin", "usr/sbin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")]


def base_entries(scale: int = 1) -> list[Entry]:
    """Debian bookworm's root filesystem: the packages of ``files.debian_base``, dpkg's
    records of them, and the directories and symlinks every Debian image has."""
    out = [
        directory(d, mode=m)
        for d, m in (
            ("tmp", 0o1777),
            ("root", 0o700),
            ("home", 0o755),
            ("srv", 0o755),
            ("opt", 0o755),
            ("usr/local/bin", 0o755),
            ("var/log", 0o755),
            ("var/lib/apt/lists/partial", 0o700),
            ("var/lib/apt/lists/auxfiles", 0o755),
            ("var/cache/apt/archives/partial", 0o700),
        )
    ]
    out.append(file("var/lib/apt/lists/lock", b"", mode=0o640))
    out += [symlink(link, target) for link, target in MERGED_USR]
    out.append(symlink("usr/lib64/ld-linux-x86-64.so.2", f"/{files.LIB}/ld-linux-x86-64.so.2"))
    out.append(symlink("usr/bin/sh", "dash"))
    status = b""
    for package in files.debian_base():
        out += files.entries(package.files, scale=scale)
        out += files.dpkg_info_entries(package, MTIME)
        status += package.stanza
    out.append(file("var/lib/dpkg/status", status))
    return _with_parents(out)


def _with_parents(entries: list[Entry]) -> list[Entry]:
    """``entries`` sorted by path, each missing parent directory added before its children."""
    by_path = {e.path.decode().strip("/"): e for e in entries}
    for path in list(by_path):
        parent = parent_of(path)
        while parent and parent not in by_path:
            by_path[parent] = directory(parent)
            parent = parent_of(parent)
    return [by_path[p] for p in sorted(by_path)]


# --- build contexts -------------------------------------------------------------------------


def context(planned: Planned, scale: int = 1) -> dict[str, tuple[bytes, int]]:
    """Relative path -> (bytes, mode) of the build context: the files kept beside the
    Dockerfile, those too big to keep (made here), the 1.1 change; ``.dockerignore`` is not
    applied (``sent`` does that, as the docker client does)."""
    folder = DOCKERFILES / planned.folder
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            mode = 0o755 if path.name.endswith(".sh") else 0o644
            out[path.relative_to(folder).as_posix()] = (path.read_bytes(), mode)
    out.update(_generated(planned.folder, scale))
    if planned.changed:
        for name, (data, mode) in out.items():
            old, new = CHANGED_LINE
            if old.encode() in data:
                out[name] = (data.replace(old.encode(), new.encode(), 1), mode)
    return out


def sent(context_files: dict[str, tuple[bytes, int]]) -> dict[str, tuple[bytes, int]]:
    """What the client sends of a context: the files ``.dockerignore`` does not name (its
    patterns here are plain names and globs, as ours are)."""
    ignore = context_files.get(".dockerignore", (b"", 0))[0].decode().split()

    def ignored(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(fnmatch.fnmatch(p, pattern) for p in prefixes for pattern in ignore)

    return {path: value for path, value in context_files.items() if not ignored(path)}


def _generated(folder: str, scale: int) -> dict[str, tuple[bytes, int]]:
    specs: list[Spec] = []
    out: dict[str, tuple[bytes, int]] = {}
    if folder == "chmod":
        # Mode 0644 in the context, as a downloaded binary is: hence the chmod +x after it.
        specs = [Spec("tool", 16_000_000, ELF)]
    elif folder.startswith("context-"):
        specs = [*files.node_modules(), *files.git_dir()]
    elif folder == "secret":
        specs = [Spec(f"data/customers-{year}.csv", 420_000) for year in (2022, 2023, 2024)]
        out["deploy_key"] = (_private_key(), 0o600)
        out["app.tar.gz"] = (_app_tarball(scale), 0o644)
    for spec in specs:
        out[spec.path] = (files.content(spec, scale), spec.mode)
    return out


def _private_key() -> bytes:
    # What a leaked key looks like; made up, seeded, never used anywhere.
    body = random.Random("deploy-key").randbytes(300)
    lines = [body[i : i + 48].hex() for i in range(0, len(body), 48)]
    return (
        b"-----BEGIN OPENSSH PRIVATE KEY-----\n"
        + "\n".join(lines).encode()
        + (b"\n-----END OPENSSH PRIVATE KEY-----\n")
    )


def _app_tarball(scale: int) -> bytes:
    app = [
        Spec("run.sh", 120, mode=0o755),
        Spec("bin/worker", 3_500_000, ELF, 0o755),
        *(Spec(f"lib/module{i}.so", 400_000, ELF) for i in range(4)),
        *(Spec(f"share/templates/page{i}.html", 6000) for i in range(20)),
    ]
    raw = synth.layer(files.entries(app, scale=scale))
    return gzip.compress(raw, compresslevel=6, mtime=0)


# --- the Dockerfile, carried out on the model -------------------------------------------------


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) of a Dockerfile, comments dropped and continuations joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        line, pending = pending + line, ""
        keyword, _, rest = line.strip().partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def _go_list(words: list[str]) -> str:
    # The classic builder records a JSON-form CMD as Go prints a slice of strings.
    return "[" + " ".join(json.dumps(w) for w in words) + "]"


class Offline:
    """Builds ``PLAN`` on the model; ``stages`` holds every image built so far, by tag."""

    def __init__(self, scale: int = 1) -> None:
        self.scale = scale
        self.builder = Builder()
        base = self.builder.imported(base_entries(scale), env=BASE_ENV, cmd=BASE_CMD)
        self.stages: dict[str, Stage] = {f"{PREFIX}/{BASE}": base}

    def build(self, planned: Planned) -> Stage:
        text = (DOCKERFILES / planned.folder / "Dockerfile").read_text()
        ctx = sent(context(planned, self.scale))
        args: dict[str, str] = {}
        named: dict[str, Stage] = {}
        stage: Stage | None = None
        name = ""
        for keyword, rest in instructions(text):
            if keyword == "ARG" and stage is None:
                key, _, default = rest.partition("=")
                args[key] = default
            elif keyword == "FROM":
                if stage is not None:
                    named[name] = stage
                    if name and name == planned.target:
                        break
                ref, _, name = rest.partition(" AS ")
                for key, value in args.items():
                    ref = ref.replace(f"${key}", value)
                stage = named.get(ref) or self.stages[ref]
            else:
                assert stage is not None, f"{planned.folder}: {keyword} before FROM"
                stage = self._step(stage, keyword, rest, ctx, named)
        assert stage is not None
        if planned.target:
            stage = named.get(planned.target, stage)
        self.stages[planned.tag()] = stage
        return stage

    def _step(
        self,
        stage: Stage,
        keyword: str,
        rest: str,
        ctx: dict[str, tuple[bytes, int]],
        named: dict[str, Stage],
    ) -> Stage:
        nop = "/bin/sh -c #(nop) "
        step = self.builder.step
        if keyword == "RUN":
            return step(stage, f"/bin/sh -c {rest}", functools.partial(run, rest, self.scale))
        if keyword == "COPY":
            words = rest.split()
            source: Stage | None = None
            if words[0].startswith("--from="):
                source = named[words.pop(0).removeprefix("--from=")]
            *sources, dest = words
            copied = _copied(sources, dest, ctx, source)
            digest = hashlib.sha256()
            for entry in copied:
                digest.update(b"%s\0%o\0%s\0" % (entry.path, entry.mode, entry.data))
            kind = "dir" if len(copied) > 1 or sources[0].endswith("/") else "file"
            if len(sources) > 1:
                kind = "multi"
            created_by = f"{nop}COPY {kind}:{digest.hexdigest()} in {dest} "

            def copy(fs: Filesystem) -> None:
                for entry in copied:
                    fs.add(entry)

            return step(stage, created_by, copy, inputs=digest.hexdigest())
        if keyword == "ENV":
            env = dict(item.split("=", 1) for item in stage.env)
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env.pop(key, None)
                env[key] = value
            return step(
                stage,
                f"{nop} ENV {rest}",
                None,
                env=tuple(f"{k}={v}" for k, v in env.items()),
            )
        if keyword == "WORKDIR":
            path = rest.strip("/")
            return step(
                stage, f"{nop}WORKDIR {rest}", lambda fs: _mkdirs(fs, path), working_dir=rest
            )
        if keyword == "EXPOSE":
            # Recorded as written (Docker 20.10's classic builder); the config says "8080/tcp".
            ports = tuple(p if "/" in p else f"{p}/tcp" for p in rest.split())
            return step(
                stage,
                f"{nop} EXPOSE {rest}",
                None,
                exposed_ports=tuple(sorted({*stage.exposed_ports, *ports})),
            )
        if keyword == "CMD":
            words = json.loads(rest)
            return step(stage, f"{nop} CMD {_go_list(words)}", None, cmd=tuple(words))
        raise ValueError(f"the lesson model does not know {keyword}")


def _mkdirs(fs: Filesystem, path: str) -> None:
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        fs.mkdir("/".join(parts[:i]))


def _copied(
    sources: list[str], dest: str, ctx: dict[str, tuple[bytes, int]], stage: Stage | None
) -> list[Entry]:
    """The entries COPY writes: files keep their mtime and mode (a context's files carry the
    checkout's fixed time); a source directory's contents go under ``dest``."""
    out: list[Entry] = []
    for source in sources:
        if stage is not None:
            path = source.strip("/")
            entry = stage.files[path]
            target = dest.strip("/")
            if dest.endswith("/"):
                target += "/" + path.rpartition("/")[2]
            out.append(dataclasses.replace(entry, path=target.encode()))
            continue
        src = source.strip("/").removeprefix(".").strip("/")
        for name, (data, mode) in sorted(ctx.items()):
            if src and name != src and not name.startswith(src + "/"):
                continue
            if name == src:  # one file
                target = dest.strip("/")
                if dest.endswith("/"):
                    target += "/" + name.rpartition("/")[2]
            else:
                target = dest.strip("/") + "/" + name[len(src) :].strip("/")
            out.append(file(target, data, mode=mode))
    return out


# --- the commands RUN lines use, as the base's tools carry them out ---------------------------


def run(command: str, scale: int, fs: Filesystem) -> None:
    for part in command.split("&&"):
        words = shlex.split(part.strip())
        if ">" in words:  # echo TEXT > FILE
            at = words.index(">")
            text = " ".join(words[1:at]) + "\n"
            fs.add(file(words[at + 1].strip("/"), text.encode(), mtime=fs.now))
            continue
        COMMANDS[words[0]](fs, words[1:], scale)


def _apt_get(fs: Filesystem, words: list[str], scale: int) -> None:
    action, *names = [w for w in words if not w.startswith("-")]
    if action == "update":
        for entry in files.entries(files.apt_lists(), scale=scale):
            fs.add(entry)
        return
    if action != "install":
        raise ValueError(f"apt-get {action} is not part of the lessons")
    if len(fs.children("var/lib/apt/lists")) <= 3:
        raise ValueError(f"E: Unable to locate package {names[0]} (no apt-get update before)")
    status = fs.read("var/lib/dpkg/status")
    log = fs.read("var/log/dpkg.log") if fs.exists("var/log/dpkg.log") else b""
    for name in names:
        package = files.apt_packages()[name]
        # dpkg keeps the packaged mtimes; what it records about the install is written now.
        for entry in files.entries(package.files, scale=scale):
            fs.add(entry)
        for entry in files.dpkg_info_entries(package, fs.now):
            fs.add(entry)
        status += package.stanza
        log += f"{fs.now} install {name}:amd64 <none> {package.version}\n".encode()
    fs.add(file("var/lib/dpkg/status", status, mtime=fs.now))
    fs.add(file("var/log/dpkg.log", log, mtime=fs.now))


def requirements(fs: Filesystem, words: list[str]) -> list[str]:
    """The distributions ``pip install`` names: arguments, or the lines of ``-r FILE``."""
    names: list[str] = []
    it = iter(words)
    for word in it:
        if word == "-r":
            lines = fs.read(next(it).strip("/")).decode().splitlines()
            names += [line.split("==")[0].strip().lower() for line in lines if line.strip()]
        elif not word.startswith("-"):
            names.append(word.lower())
    return names


def _pip(fs: Filesystem, words: list[str], scale: int) -> None:
    assert words[0] == "install"
    names = requirements(fs, words[1:])
    for name in names:
        # pip writes every file as it unpacks the wheel: they all get this step's time.
        for entry in files.entries(files.pip_dists()[name], scale=scale, mtime=fs.now):
            fs.add(entry)
    if "--no-cache-dir" not in words:
        for entry in files.entries(files.pip_cache(names), scale=scale, mtime=fs.now):
            fs.add(entry)


def _rm(fs: Filesystem, words: list[str], scale: int) -> None:
    for word in words:
        if word.startswith("-"):
            continue
        path = word.strip("/")
        if path.endswith("/*"):
            for child in fs.children(path[:-2]):
                fs.remove(child)
        else:
            fs.remove(path)


def _mkdir(fs: Filesystem, words: list[str], scale: int) -> None:
    for word in words:
        if not word.startswith("-"):
            _mkdirs(fs, word.strip("/"))


def _ln(fs: Filesystem, words: list[str], scale: int) -> None:
    target, link = [w for w in words if not w.startswith("-")]
    fs.add(symlink(link.strip("/"), target, mtime=fs.now))


def _chmod(fs: Filesystem, words: list[str], scale: int) -> None:
    mode, path = words
    entry = fs.files[path.strip("/")]
    fs.chmod(path.strip("/"), entry.mode | 0o111 if mode == "+x" else int(mode, 8))


def _tar(fs: Filesystem, words: list[str], scale: int) -> None:
    # tar -xzf FILE -C DIR: the members keep their mtimes, as tar restores them.
    archive = words[words.index("-xzf") + 1].strip("/")
    into = words[words.index("-C") + 1].strip("/")
    with tarfile.open(fileobj=io.BytesIO(fs.read(archive)), mode="r:gz") as tar:
        for member in tar:
            path = f"{into}/{member.name.strip('/')}".rstrip("/")
            if member.isdir():
                fs.add(directory(path, mode=member.mode, mtime=int(member.mtime)))
            else:
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                fs.add(file(path, data, mode=member.mode, mtime=int(member.mtime)))


def _make(fs: Filesystem, words: list[str], scale: int) -> None:
    # The Makefile's two rules: each .c compiled to an object three times its size, the
    # objects linked into the server. (The base's ``make`` does the same with random bytes.)
    src = words[words.index("-C") + 1].strip("/")
    objects = b""
    for name in fs.children(src):
        if name.endswith(".c"):
            size = len(fs.read(name)) * 3
            obj = files.content(Spec(name[:-2] + ".o", size, ELF))
            fs.add(file(name[:-2] + ".o", obj, mtime=fs.now))
            objects += obj
    fs.add(file(f"{src}/server", objects, mode=0o755, mtime=fs.now))


COMMANDS: dict[str, Callable[[Filesystem, list[str], int], None]] = {
    "apt-get": _apt_get,
    "pip": _pip,
    "rm": _rm,
    "mkdir": _mkdir,
    "ln": _ln,
    "chmod": _chmod,
    "tar": _tar,
    "make": _make,
}


# --- all of them ----------------------------------------------------------------------------


def images() -> list[synth.Image]:
    """Every lesson image, in ``TAGS`` order."""
    offline = Offline()
    for planned in PLAN:
        offline.build(planned)
    return [offline.stages[tag].image([tag]) for tag in TAGS]


def write_archive(path: Path) -> Path:
    """All the lesson images in one ``docker save`` archive (Docker 25's layout)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    synth.write_docker_archive(partial, images(), layout="docker25")
    partial.replace(path)
    return path
