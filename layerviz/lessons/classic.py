"""Docker's classic builder, modelled offline: a filesystem, its diff as a layer, a build cache.

The lesson images are only worth showing if they behave as real builds do, so the model keeps
the three rules the lessons are about:

1. Each step that changes the filesystem commits the difference to its parent as one layer:
   what was added or changed (with every parent directory, as overlayfs copies them up), a
   ``.wh.`` whiteout for what was deleted, an opaque whiteout for a directory deleted and
   made again. Metadata steps (ENV, CMD, WORKDIR on a directory that exists…) commit none.
2. The cache keys each step on its parent, its instruction and, for COPY, the bytes copied:
   the same step on the same parent gives back the very layer built before (byte-identical,
   so shared), and a step whose parent changed runs again.
3. A step that runs again runs at a later time: what it writes gets a new mtime, so its layer
   has new bytes even when its files say the same thing (a ``RUN`` rebuilt after a changed
   ``COPY`` is a new layer, as with a real engine).

Time is a counter, so everything stays deterministic. Nothing here imports Django.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
from collections.abc import Callable, Iterable

from layerviz.lib import synth
from layerviz.lib.tarwalk import DIR
from layerviz.lib.tarwriter import Entry, directory, opaque, whiteout

from .files import MTIME

STEP_SECONDS = 3  # how long each step that is not cached "takes"


def parent_of(path: str) -> str:
    return path.rpartition("/")[0]


class Filesystem:
    """A tree as of some step: path (no leading or trailing ``/``) -> tar entry. A step works
    on a copy; ``now`` is the time its writes get."""

    def __init__(self, files: dict[str, Entry], now: int) -> None:
        self.files = dict(files)
        self.now = now
        self.recreated: set[str] = set()  # directories deleted and made again: opaque
        self._removed_dirs: set[str] = set()

    def exists(self, path: str) -> bool:
        return path in self.files

    def is_dir(self, path: str) -> bool:
        entry = self.files.get(path)
        return entry is not None and entry.type == DIR

    def children(self, path: str) -> list[str]:
        prefix = path + "/"
        return sorted(p for p in self.files if p.startswith(prefix) and "/" not in p[len(prefix) :])

    def read(self, path: str) -> bytes:
        return self.files[path].data

    def _touch_parent(self, path: str) -> None:
        # Creating or deleting a name changes its directory's mtime, so the directory is part
        # of the layer; the ones above it are too (``diff`` adds them) but keep their mtime.
        parent = parent_of(path)
        if parent:
            self.mkdir(parent)
            self.files[parent] = dataclasses.replace(self.files[parent], mtime=self.now)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        if self.is_dir(path):
            return
        self._touch_parent(path)
        self.files[path] = directory(path, mode=mode, mtime=self.now)
        if path in self._removed_dirs:
            self.recreated.add(path)

    def add(self, entry: Entry) -> None:
        path = entry.path.decode().strip("/")
        if entry.type == DIR:
            if self.is_dir(path):
                self.files[path] = entry
                return
            self._touch_parent(path)
            self.files[path] = entry
            if path in self._removed_dirs:
                self.recreated.add(path)
            return
        self._touch_parent(path)
        if self.is_dir(path):
            self.remove(path)
        self.files[path] = entry

    def remove(self, path: str) -> None:
        if path not in self.files:
            return
        if self.files[path].type == DIR:
            self._removed_dirs.add(path)
        prefix = path + "/"
        for name in [p for p in self.files if p == path or p.startswith(prefix)]:
            del self.files[name]
        self._touch_parent(path)

    def chmod(self, path: str, mode: int) -> None:
        # chmod changes the inode's ctime, not its mtime; the file is copied up all the same.
        self.files[path] = dataclasses.replace(self.files[path], mode=mode)


def diff(parent: dict[str, Entry], child: Filesystem) -> list[Entry]:
    """The layer that turns ``parent`` into ``child``, in path order."""
    out: dict[str, Entry] = {}
    for path, entry in child.files.items():
        old = parent.get(path)
        under_opaque = any(path.startswith(d + "/") for d in child.recreated)
        if (
            old is None
            or (old is not entry and old != entry)
            or under_opaque
            or path in child.recreated
        ):
            out[path] = entry
            ancestor = parent_of(path)
            while ancestor and ancestor not in out:
                out[ancestor] = child.files[ancestor]
                ancestor = parent_of(ancestor)
    for path in parent:
        if path in child.files:
            continue
        up = parent_of(path)
        gone_above = up and up not in child.files
        if gone_above or any(path.startswith(d + "/") for d in child.recreated):
            continue  # a whiteout higher up (or an opaque directory) covers it
        out[path] = whiteout(path, mtime=child.now)
    entries = []
    for path in sorted(out):
        entries.append(out[path])
        if path in child.recreated:
            entries.append(opaque(path, mtime=child.now))
    return entries


@dataclasses.dataclass(frozen=True)
class Stage:
    """An image as the builder holds it after some step."""

    key: str  # the cache key of its last step
    layers: tuple[bytes, ...]
    history: tuple[synth.Step, ...]
    files: dict[str, Entry]
    env: tuple[str, ...] = tuple(synth.DEFAULT_ENV)
    cmd: tuple[str, ...] | None = None
    working_dir: str = ""
    exposed_ports: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()

    def image(self, tags: list[str]) -> synth.Image:
        return synth.Image(
            layers=list(self.layers),
            history=list(self.history),
            env=list(self.env),
            cmd=list(self.cmd) if self.cmd is not None else None,
            working_dir=self.working_dir,
            exposed_ports=list(self.exposed_ports) or None,
            labels=dict(self.labels) or None,
            created=self.history[-1].created,
            tags=tags,
        )


def _created(seconds: int) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Builder:
    """The cache and the clock shared by every build, as one engine's are."""

    def __init__(self) -> None:
        self.clock = MTIME + 86_400  # the day after the files were written
        self.cache: dict[str, tuple[bytes | None, synth.Step, dict[str, Entry]]] = {}

    def imported(self, entries: Iterable[Entry], *, env: list[str], cmd: list[str]) -> Stage:
        """``docker import``: the whole tree as one layer, with no instruction behind it."""
        files = {e.path.decode().strip("/"): e for e in entries}
        layer = synth.layer(entries)
        key = hashlib.sha256(layer).hexdigest()
        step = synth.Step("", created=_created(self.clock), comment="Imported from -")
        return Stage(key, (layer,), (step,), files, env=tuple(env), cmd=tuple(cmd))

    def step(
        self,
        stage: Stage,
        created_by: str,
        change: Callable[[Filesystem], None] | None,
        *,
        inputs: str = "",
        **config: object,
    ) -> Stage:
        """``stage`` after one instruction: ``change`` edits the filesystem (None for a
        metadata step), ``inputs`` is what COPY copies (part of the cache key), ``config`` the
        image settings the instruction sets."""
        key = hashlib.sha256(f"{stage.key}\0{created_by}\0{inputs}".encode()).hexdigest()
        if key not in self.cache:
            self.clock += STEP_SECONDS
            layer = None
            files = stage.files
            if change is not None:
                fs = Filesystem(stage.files, self.clock)
                change(fs)
                entries = diff(stage.files, fs)
                if entries:
                    layer = synth.layer(entries, parents=False)
                files = fs.files
            step = synth.Step(created_by, empty_layer=layer is None, created=_created(self.clock))
            self.cache[key] = (layer, step, files)
        layer, step, files = self.cache[key]
        layers = stage.layers if layer is None else (*stage.layers, layer)
        return dataclasses.replace(
            stage,
            key=key,
            layers=layers,
            history=(*stage.history, step),
            files=files,
            **config,  # type: ignore[arg-type]
        )
