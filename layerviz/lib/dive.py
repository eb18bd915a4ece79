"""dive v0.13.1's analysis, reproduced: its per-layer trees, efficiency score, wasted bytes,
inefficient-file list, ``--json`` export and CI rules.

These are the numbers people already trust, so they are computed exactly as dive computes them,
quirks included (``peers.md`` §b): each layer is its own tree built from the tar headers (missing
parents added empty, ``.wh..wh..*`` names dropped, a repeated path overwriting the node); only
leaf nodes count; a whiteout costs the size of what it hides only when that was a directory
*according to its tar header*; every copy of a path counts as waste once the path is seen twice;
a whiteout with nothing below it aborts the rest of its layer's walk, leaving an empty record.
Layerviz's own, corrected figures live in ``lib/waste.py``; this module is only for parity.
"""

from __future__ import annotations

import dataclasses
import decimal
import json
import math
from collections.abc import Iterable, Sequence

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


def go_clean(path: str) -> str:
    """Go's ``path.Clean``."""
    if not path:
        return "."
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


def _go_string_key(name: str) -> bytes:
    # Go sorts strings by bytes; our names may carry escapes for non-UTF-8 bytes, which sort
    # close enough (they are rare) — compare their UTF-8 encoding.
    return name.encode("utf-8", "surrogatepass")


class Tree:
    def __init__(self, name: str = "") -> None:
        self.root = Node("", None)
        self.name = name
        self.file_size = 0

    def add_path(self, path: str, info: FileInfo) -> None:
        path = go_clean(path)
        if path == ".":
            return
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
            node = node.children.get(name)
            if node is None:
                return None
        return node

    def remove_path(self, path: str) -> None:
        node = self.get_node(path)
        if node is not None and node.parent is not None:
            del node.parent.children[node.name]

    def stack(self, upper: Tree) -> None:
        """``FileTree.Stack``: graft ``upper`` on this tree, children first."""
        for node in upper.root.child_first():
            if node.is_whiteout:
                self.remove_path(node.path())
            else:
                self.add_path(node.path(), node.info)

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
        tree.add_path(path, file_info(entry, path))
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
            for node in tree.root.child_first():
                if node.children:
                    continue  # leaves only
                path = node.path()
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


def dumps(document: dict) -> str:
    """JSON as Go's ``json.MarshalIndent(…, "", "  ")`` writes it (HTML characters escaped)."""
    text = json.dumps(document, indent=2, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# --- CI rules --------------------------------------------------------------------------------

RULES = ("lowestEfficiency", "highestWastedBytes", "highestUserWastedPercent")
DEFAULT_RULES = {
    "lowestEfficiency": "0.9",
    "highestWastedBytes": "disabled",
    "highestUserWastedPercent": "0.1",
}

_BYTE_UNITS = {
    "b": 1, "": 1,
    "kib": 1 << 10, "ki": 1 << 10, "kb": 1000, "k": 1000,
    "mib": 1 << 20, "mi": 1 << 20, "mb": 1000**2, "m": 1000**2,
    "gib": 1 << 30, "gi": 1 << 30, "gb": 1000**3, "g": 1000**3,
    "tib": 1 << 40, "ti": 1 << 40, "tb": 1000**4, "t": 1000**4,
    "pib": 1 << 50, "pi": 1 << 50, "pb": 1000**5, "p": 1000**5,
    "eib": 1 << 60, "ei": 1 << 60, "eb": 1000**6, "e": 1000**6,
}  # fmt: skip


def parse_bytes(text: str) -> int:
    """go-humanize ``ParseBytes``: ``20MB`` is 20,000,000 and ``20MiB`` 20,971,520."""
    digits = 0
    for ch in text:
        if not (ch.isdigit() or ch in ".,"):
            break
        digits += 1
    number = text[:digits].replace(",", "")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{number}": invalid syntax') from None
    unit = text[digits:].strip().lower()
    if unit not in _BYTE_UNITS:
        raise ValueError(f"unhandled size name: {unit}")
    value *= _BYTE_UNITS[unit]
    if value >= 2**64:
        raise ValueError(f"too large: {text}")
    return int(value)


def human(n: int) -> str:
    """go-humanize ``Bytes``."""
    if n < 10:
        return f"{n} B"
    exponent = math.floor(math.log(n) / math.log(1000))
    suffix = ("B", "kB", "MB", "GB", "TB", "PB", "EB")[exponent]
    value = math.floor(n / 1000**exponent * 10 + 0.5) / 10
    return f"{value:.1f} {suffix}" if value < 10 else f"{value:.0f} {suffix}"


def go_float(value: float) -> str:
    """Go's ``%v`` for a float64 (``strconv.FormatFloat(v, 'g', -1, 64)``): the shortest digits
    that round-trip, in exponent form when the exponent is below -4 or at least 6."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = decimal.Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + exponent  # position of the decimal point in the digit string
    exp = point - 1
    minus = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{minus}{text}{'0' * (point - len(text))}"
    return f"{minus}{text[:point]}.{text[point:]}"


def go_fixed(value: float, decimals: int = 4) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.{decimals}f}"


@dataclasses.dataclass
class RuleResult:
    key: str
    status: str  # PASS, FAIL, SKIP, MISCONFIGURED
    message: str


def evaluate(analysis: Analysis, rules: dict[str, str]) -> tuple[bool, list[RuleResult], bool]:
    """dive 0.13.1's ``CiEvaluator``: (passed, results sorted by rule name, misconfigured)."""
    results: dict[str, RuleResult] = {}
    misconfigured = False
    for key in RULES:
        value = rules[key]
        if value == "disabled":
            continue
        problem = _validate(key, value)
        if problem:
            results[key] = RuleResult(key, "MISCONFIGURED", problem)
            misconfigured = True
    if misconfigured:
        for key in RULES:
            message = "rule disabled" if rules[key] == "disabled" else "test"
            # dive prints this status padded, as "CONFIGURED   ".
            results.setdefault(key, RuleResult(key, "CONFIGURED   ", message))
        return False, [results[k] for k in sorted(results)], True
    passed = True
    for key in RULES:
        value = rules[key]
        if value == "disabled":
            results[key] = RuleResult(key, "SKIP", "rule disabled")
            continue
        failed, message = _check(key, value, analysis)
        passed &= not failed
        results[key] = RuleResult(key, "FAIL" if failed else "PASS", message)
    return passed, [results[k] for k in sorted(results)], False


def _validate(key: str, value: str) -> str:
    try:
        if key == "highestWastedBytes":
            parse_bytes(value)
            return ""
        number = float(value)
    except ValueError as exc:
        return f"invalid config value ('{value}'): {exc}"
    if not 0 <= number <= 1:
        return f"{key} config value is outside allowed range (0-1), given '{value}'"
    return ""


def _check(key: str, value: str, analysis: Analysis) -> tuple[bool, str]:
    if key == "lowestEfficiency":
        threshold = float(value)
        if threshold > analysis.score:
            return True, (
                f"image efficiency is too low (efficiency={go_float(analysis.score)} < threshold={go_float(threshold)})"
            )
        return False, ""
    if key == "highestWastedBytes":
        threshold = parse_bytes(value)
        if analysis.wasted > threshold:
            return (
                True,
                f"too many bytes wasted (wasted-bytes={analysis.wasted} > threshold={threshold})",
            )
        return False, ""
    threshold = float(value)
    ratio = analysis.user_wasted_percent
    if threshold < ratio:  # False for NaN, as in Go
        return True, (
            "too many bytes wasted, relative to the user bytes added "
            f"(%-user-wasted-bytes={go_float(ratio)} > threshold={go_float(threshold)})"
        )
    return False, ""


def ci_report(
    analysis: Analysis, results: list[RuleResult], passed: bool, misconfigured: bool
) -> str:
    """The text dive prints in CI mode, after its "Analyzing image..." line."""
    lines = [
        f"  efficiency: {go_fixed(analysis.score * 100)} %",
        f"  wastedBytes: {analysis.wasted} bytes ({human(analysis.wasted)})",
        f"  userWastedPercent: {go_fixed(analysis.user_wasted_percent * 100)} %",
        "Inefficient Files:",
        f"{'Count':>5}  {'Wasted Space':>12}  File Path",
    ]
    # A misconfigured run stops before the list is gathered, so dive shows "None" then.
    listed = [] if misconfigured else analysis.inefficiencies
    if not listed:
        lines.append("None")
    for r in listed:
        lines.append(f"{r.count:>5}  {human(r.cumulative):>12}  {r.path}")
    lines.append("Results:")
    for result in results:
        if result.message:
            lines.append(f"  {result.status}: {result.key}: {result.message}")
        else:
            lines.append(f"  {result.status}: {result.key}")
    if misconfigured:
        lines.append("CI Misconfigured")
    else:
        tally = {s: sum(1 for r in results if r.status == s) for s in ("PASS", "FAIL", "SKIP")}
        status = "FAIL" if tally["FAIL"] else "PASS"
        lines.append(
            f"Result:{status} [Total:{len(results)}] [Passed:{tally['PASS']}] [Failed:{tally['FAIL']}] "
            f"[Warn:0] [Skipped:{tally['SKIP']}]"
        )
    return "\n".join(lines)
