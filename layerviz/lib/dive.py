"""dive v0.13.1's analysis, reproduced: its per-layer trees, efficiency score, wasted bytes,
inefficient-file list and ``--json`` export.

These are the numbers people already trust, so they are computed exactly as dive computes them,
quirks included (``peers.md`` §b): each layer is its own tree built from the tar headers (missing
parents added empty, ``.wh..wh..*`` names dropped, a repeated path overwriting the node); only
leaf nodes count; a whiteout costs the size of what it hides only when that was a directory
*according to its tar header*; every copy of a path counts as waste once the path is seen twice;
a whiteout with nothing below it aborts the rest of its layer's walk, leaving an empty record.
Layerviz's own, corrected figures live in ``lib/waste.py``; this module is only for parity.
dive's CI rules over these figures are in ``lib/dive_ci.py``, and the Go formatting its
documents need (``dumps`` for the ``--json`` file) in ``lib/goformat.py``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Iterator, Sequence

WHITEOUT = ".wh."
DOUBLE_WHITEOUT = ".wh..wh.."

# Go's io/fs.FileMode bits, as archive/tar's Header.FileInfo().Mode() sets them.
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_NAMED_PIPE = 1 << 25
MODE_SOCKET = 1 << 24
MODE_SETUID = 1 << 23
MODE_SETGID = 1 << 22
MODE_CHAR_DEVICE = 1 << 21
MODE_STICKY = 1 << 20


@dataclasses.dataclass(slots=True, frozen=True)
class RawEntry:
    """What dive reads from one tar header."""

    name: str  # the header name, as the tar gives it
    type: str  # tar typeflag character
    link: str
    size: int
    mode: int  # the raw header mode, type bits included
    uid: int
    gid: int


@dataclasses.dataclass(slots=True, frozen=True)
class FileInfo:
    path: str
    type_flag: int
    link: str
    size: int
    mode: int
    uid: int
    gid: int
    is_dir: bool

    def as_json(self) -> dict:
        return {
            "path": self.path,
            "typeFlag": self.type_flag,
            "linkName": self.link,
            "size": self.size,
            "fileMode": self.mode,
            "uid": self.uid,
            "gid": self.gid,
            "isDir": self.is_dir,
        }


EMPTY = FileInfo("", 0, "", 0, 0, 0, 0, False)


# What Go's path.Clean would change: "." or ".." elements, doubled or trailing slashes.
_UNCLEAN = re.compile(r"(?:^|/)\.\.?(?:/|$)|//|/$")


def go_clean(path: str) -> str:
    """Go's ``path.Clean``."""
    if not path:
        return "."
    if _UNCLEAN.search(path) is None:
        return path  # already clean: most names, on every entry of every layer
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    cleaned = "/".join(out)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def go_file_mode(mode: int, typeflag: str) -> int:
    """``archive/tar`` ``headerFileInfo.Mode()``."""
    out = mode & 0o777
    if mode & 0o4000:
        out |= MODE_SETUID
    if mode & 0o2000:
        out |= MODE_SETGID
    if mode & 0o1000:
        out |= MODE_STICKY
    kind = mode & ~0o7777
    out |= {
        0o40000: MODE_DIR,
        0o10000: MODE_NAMED_PIPE,
        0o120000: MODE_SYMLINK,
        0o60000: MODE_DEVICE,
        0o20000: MODE_DEVICE | MODE_CHAR_DEVICE,
        0o140000: MODE_SOCKET,
    }.get(kind, 0)
    out |= {
        "2": MODE_SYMLINK,
        "3": MODE_DEVICE | MODE_CHAR_DEVICE,
        "4": MODE_DEVICE,
        "5": MODE_DIR,
        "6": MODE_NAMED_PIPE,
    }.get(typeflag, 0)
    return out


def file_info(entry: RawEntry, path: str) -> FileInfo:
    mode = go_file_mode(entry.mode, entry.type)
    return FileInfo(
        path=path,
        type_flag=ord(entry.type) if entry.type else 0,
        link=entry.link,
        size=entry.size,
        mode=mode,
        uid=entry.uid,
        gid=entry.gid,
        is_dir=bool(mode & MODE_DIR),
    )


class Node:
    __slots__ = ("children", "info", "name", "parent")

    def __init__(self, name: str, parent: Node | None, info: FileInfo = EMPTY) -> None:
        self.name = name
        self.parent = parent
        self.info = info
        self.children: dict[str, Node] = {}

    @property
    def is_whiteout(self) -> bool:
        return self.name.startswith(WHITEOUT)

    def path(self) -> str:
        """``FileNode.Path()``: the node's own whiteout prefix trimmed, ``//`` squashed."""
        parts = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            parts.append(node.name.removeprefix(WHITEOUT) if node is self else node.name)
            node = node.parent
        return ("/" + "/".join(reversed(parts))).replace("//", "/")

    def copy(self, parent: Node | None) -> Node:
        new = Node(self.name, parent, self.info)
        for name, child in self.children.items():
            new.children[name] = child.copy(new)
        return new

    def child_first(self) -> Iterable[Node]:
        """``VisitDepthChildFirst``: children by name (byte order), then the node itself."""
        for name in sorted(self.children, key=_go_string_key):
            yield from self.children[name].child_first()
        if self.parent is not None:
            yield self

    def child_first_paths(self, stored: str = "") -> Iterator[tuple[Node, str]]:
        """``child_first`` with each node's ``path()``, built on the way down rather than by
        walking up from every node (``stored``: this node's path, names as stored)."""
        for name in sorted(self.children, key=_go_string_key):
            yield from self.children[name].child_first_paths(f"{stored}/{name}")
        if self.parent is not None:
            head = stored[: len(stored) - len(self.name)]
            yield self, (head + self.name.removeprefix(WHITEOUT)).replace("//", "/")


def _go_string_key(name: str) -> bytes:
    # Go sorts strings by bytes. Names hold a byte that is not UTF-8 as a surrogate escape
    # (Go strings are bytes), so encoding them back gives exactly the bytes Go compares.
    return name.encode("utf-8", "surrogateescape")


class Tree:
    def __init__(self, name: str = "") -> None:
        self.root = Node("", None)
        self.name = name
        self.file_size = 0

    def add_path(self, path: str, info: FileInfo) -> None:
        path = go_clean(path)
        if path == ".":
            return
        self._add_clean(path, info)

    def _add_clean(self, path: str, info: FileInfo) -> None:
        """``add_path`` of a path already through ``go_clean``."""
        names = path.strip("/").split("/")
        node = self.root
        for i, name in enumerate(names):
            if name == "":
                continue
            child = node.children.get(name)
            if child is None:
                if name.startswith(DOUBLE_WHITEOUT):
                    return
                child = node.children[name] = Node(name, node)
            node = child
            if i == len(names) - 1:
                node.info = info

    def get_node(self, path: str) -> Node | None:
        node = self.root
        for name in path.strip("/").split("/"):
            if name == "":
                continue
            child = node.children.get(name)
            if child is None:
                return None
            node = child
        return node

    def remove_path(self, path: str) -> None:
        node = self.get_node(path)
        if node is not None and node.parent is not None:
            del node.parent.children[node.name]

    def stack(self, upper: Tree) -> None:
        """``FileTree.Stack``: graft ``upper`` on this tree, children first."""
        for node, path in upper.root.child_first_paths():
            if node.is_whiteout:
                self.remove_path(path)
            else:
                self.add_path(path, node.info)

    def copy(self) -> Tree:
        new = Tree(self.name)
        new.root = self.root.copy(None)
        new.file_size = self.file_size
        return new


def build_tree(entries: Iterable[RawEntry], name: str = "") -> Tree:
    """``processLayerTar``: one tree per layer, from its headers in tar order."""
    tree = Tree(name)
    for entry in entries:
        path = go_clean(entry.name)
        if path == ".":
            continue
        tree.file_size += entry.size
        tree._add_clean(path, file_info(entry, path))
    return tree


@dataclasses.dataclass
class Inefficiency:
    path: str
    count: int = 0
    cumulative: int = 0
    minimum: int = -1


class _Abort(Exception):
    pass


def efficiency(trees: Sequence[Tree]) -> tuple[float, list[Inefficiency]]:
    """``filetree.Efficiency``: the score and the paths seen in two layers or more."""
    records: dict[str, Inefficiency] = {}
    inefficient: list[Inefficiency] = []
    # dive re-stacks layers 0..i-1 for every whiteout of layer i; the stack is the same for all
    # of them, so it is built once per layer (the result is identical, only faster).
    stacked = trees[0].copy() if trees else Tree()
    for index, tree in enumerate(trees):
        if index > 0:
            # StackTreeRange(trees, 0, index-1): a copy of layer 0, then layers 0..index-1
            # stacked on it (layer 0 twice, which applies its own whiteouts to itself).
            stacked.stack(trees[index - 1])
        try:
            for node, path in tree.root.child_first_paths():
                if node.children:
                    continue  # leaves only
                record = records.get(path)
                if record is None:
                    record = records[path] = Inefficiency(path)
                if node.is_whiteout:
                    below = stacked.get_node(path)
                    if below is None:
                        raise _Abort  # dive's walk of this layer stops here
                    size = sum(n.info.size for n in below.child_first()) if below.info.is_dir else 0
                else:
                    size = node.info.size
                record.cumulative += size
                if record.minimum < 0 or size < record.minimum:
                    record.minimum = size
                record.count += 1
                if record.count == 2:
                    inefficient.append(record)
        except _Abort:
            pass
    minimum = sum(r.minimum for r in records.values())
    discovered = sum(r.cumulative for r in records.values())
    score = 1.0 if discovered == 0 else minimum / discovered
    inefficient.sort(key=lambda r: (-r.cumulative, r.path))
    return score, inefficient


@dataclasses.dataclass
class LayerMeta:
    id: str
    digest_id: str
    command: str


@dataclasses.dataclass
class Analysis:
    trees: list[Tree]
    layers: list[LayerMeta]
    score: float
    inefficiencies: list[Inefficiency]

    @property
    def size(self) -> int:
        return sum(t.file_size for t in self.trees)

    @property
    def user_size(self) -> int:
        return sum(t.file_size for t in self.trees[1:])

    @property
    def wasted(self) -> int:
        return sum(r.cumulative for r in self.inefficiencies)

    @property
    def user_wasted_percent(self) -> float:
        """A ratio, despite the name; NaN or infinity when there are no user bytes, as in Go."""
        if self.user_size == 0:
            return math.nan if self.wasted == 0 else math.inf
        return self.wasted / self.user_size


def layer_meta(
    history: Sequence[tuple[str, bool]], diff_ids: Sequence[str], ids: Sequence[str]
) -> list[LayerMeta]:
    """``ToImage``'s pairing of layers with history: the n-th layer takes the n-th non-empty
    step (its ID is that step's diff_id), or "(missing)" when the history runs out."""
    steps = []
    layer_index = 0
    for created_by, empty in history:
        if empty:
            steps.append((created_by, "<missing>"))
        else:
            steps.append((created_by, diff_ids[layer_index] if layer_index < len(diff_ids) else ""))
            layer_index += 1
    out = []
    cursor = 0
    for i in range(len(ids)):
        while cursor < len(history) and history[cursor][1]:
            cursor += 1
        if cursor < len(history):
            created_by, step_id = steps[cursor]
            cursor += 1
        else:
            created_by, step_id = "(missing)", ""
        out.append(
            LayerMeta(id=ids[i], digest_id=step_id, command=created_by.removeprefix("/bin/sh -c "))
        )
    return out


def analyze(trees: list[Tree], layers: list[LayerMeta]) -> Analysis:
    score, inefficiencies = efficiency(trees)
    return Analysis(trees, layers, score, inefficiencies)


def export(analysis: Analysis) -> dict:
    """The document ``dive --json`` writes."""
    return {
        "layer": [
            {
                "index": i,
                "id": meta.id,
                "digestId": meta.digest_id,
                "sizeBytes": tree.file_size,
                "command": meta.command,
                "fileList": [node.info.as_json() for node in tree.root.child_first()],
            }
            for i, (tree, meta) in enumerate(zip(analysis.trees, analysis.layers, strict=True))
        ],
        "image": {
            "sizeBytes": analysis.size,
            "inefficientBytes": analysis.wasted,
            "efficiencyScore": analysis.score,
            "fileReference": [
                {"count": r.count, "sizeBytes": r.cumulative, "file": r.path}
                for r in analysis.inefficiencies
            ],
        },
    }
