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

import contextlib
import dataclasses
import decimal
import json
import math
import re
from collections.abc import Iterable, Sequence

import yaml

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


# What Go's encoding/json escapes beyond what Python's does: HTML characters, the line and
# paragraph separators, and bytes that are not UTF-8 (held here as surrogate escapes).
_GO_ESCAPED = re.compile("[<>&\u2028\u2029\udc80-\udcff]")


def _go_escape(match: re.Match[str]) -> str:
    char = match.group(0)
    if "\udc80" <= char <= "\udcff":
        # utf8.DecodeRune reads a byte that is not UTF-8 as RuneError of width 1, so Go
        # writes one \ufffd per byte.
        return "\\ufffd"
    return f"\\u{ord(char):04x}"


def dumps(document: dict) -> str:
    """JSON as Go's ``json.MarshalIndent(…, "", "  ")`` writes it: HTML characters and the
    line and paragraph separators escaped, bytes that are not UTF-8 written as ``\\ufffd``."""
    return _GO_ESCAPED.sub(_go_escape, json.dumps(document, indent=2, ensure_ascii=False))


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


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``, as its parse errors show a value."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif char in _GO_SHORT_ESCAPES:
            out.append(_GO_SHORT_ESCAPES[char])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable():
            out.append(char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_SHORT_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
}  # fmt: skip
_GO_DECIMAL = re.compile(r"[+-]?([0-9_]+\.?[0-9_]*|\.[0-9_]+)([eE][+-]?[0-9_]+)?", re.ASCII)
_GO_HEX = re.compile(r"[+-]?0[xX]([0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?[0-9_]+")
_GO_INF = re.compile(r"[+-]?(inf|infinity)", re.IGNORECASE)


def _go_underscores_ok(text: str) -> bool:
    """``strconv.underscoreOK``: an underscore only between digits (or after a base prefix)."""
    body = text[1:] if text[:1] in "+-" else text
    prefix = body[:2].lower()
    start, saw = (2, "0") if prefix in ("0x", "0b", "0o") else (0, "^")
    for char in body[start:]:
        if "0" <= char <= "9" or (prefix == "0x" and char.lower() in "abcdef"):
            saw = "0"
        elif char == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def go_parse_float(text: str) -> float:
    """Go's ``strconv.ParseFloat(text, 64)``, its errors worded as Go words them.

    Stricter than Python's ``float``: no surrounding spaces, no non-ASCII digits, no signed
    NaN; but it takes hexadecimal mantissas (``0x1p-2``)."""
    if _GO_INF.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if text.lower() == "nan":
        return math.nan
    if _GO_DECIMAL.fullmatch(text) and _go_underscores_ok(text):
        value = float(text.replace("_", ""))
    elif _GO_HEX.fullmatch(text) and _go_underscores_ok(text):
        try:
            value = float.fromhex(text.replace("_", ""))
        except OverflowError:
            value = math.inf
    else:
        raise ValueError(f"strconv.ParseFloat: parsing {go_quote(text)}: invalid syntax")
    if math.isinf(value):
        raise ValueError(f"strconv.ParseFloat: parsing {go_quote(text)}: value out of range")
    return value


def go_format_float(value: float) -> str:
    """``strconv.FormatFloat(value, 'f', -1, 64)``: the shortest digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(decimal.Decimal(repr(value)), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_bytes(text: str) -> int:
    """go-humanize ``ParseBytes``: ``20MB`` is 20,000,000 and ``20MiB`` 20,971,520."""
    digits = 0
    for char in text:
        if not (char.isdecimal() or char in ".,"):
            break
        digits += 1
    # Go counts the digits in characters but cuts the string in bytes.
    raw = text.encode("utf-8", "surrogateescape")
    number = raw[:digits].decode("utf-8", "surrogateescape").replace(",", "")
    value = go_parse_float(number)
    unit = raw[digits:].decode("utf-8", "surrogateescape").strip().lower()
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


class CiConfigError(Exception):
    """A CI file dive refuses; the message is what dive prints after "ci configuration error: "."""


_YAML_WORDS = {
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), ("!!null", None)),
    **dict.fromkeys(("true", "True", "TRUE"), ("!!bool", "true")),
    **dict.fromkeys(("false", "False", "FALSE"), ("!!bool", "false")),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), ("!!float", "NaN")),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), ("!!float", "+Inf")),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), ("!!float", "-Inf")),
}
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def _go_parse_int(text: str, *, signed: bool) -> int | None:
    """``strconv.ParseInt(text, 0, 64)`` (``ParseUint`` when not ``signed``); None on error."""
    body, negative = text, False
    if signed and body[:1] in ("+", "-"):
        body, negative = body[1:], body[0] == "-"
    base = {"0x": 16, "0o": 8, "0b": 2}.get(body[:2].lower(), 0)
    if base:
        digits = body[2:]
    elif body[:1] == "0" and len(body) > 1:
        base, digits = 8, body[1:]  # a leading 0 means octal
    else:
        base, digits = 10, body
    if not digits or any(char not in "0123456789abcdef"[:base] for char in digits.lower()):
        return None
    value = -int(digits, base) if negative else int(digits, base)
    low, high = (-(2**63), 2**63 - 1) if signed else (0, 2**64 - 1)
    return value if low <= value <= high else None


def _yaml_plain(text: str) -> tuple[str, str | None]:
    """A plain YAML scalar typed as yaml.v3 types it (``resolve``): its tag, and the text
    viper's ``GetString`` (spf13/cast) turns the typed value back into (None for null)."""
    if text in _YAML_WORDS:
        return _YAML_WORDS[text]
    if text.startswith("."):
        with contextlib.suppress(ValueError):
            return "!!float", go_format_float(go_parse_float(text))
    elif text[:1] in ("+", "-") or "0" <= text[:1] <= "9":
        plain = text.replace("_", "")
        for signed in (True, False):
            number = _go_parse_int(plain, signed=signed)
            if number is not None:
                return "!!int", str(number)
        if _YAML_FLOAT.fullmatch(plain):
            with contextlib.suppress(ValueError):
                return "!!float", go_format_float(go_parse_float(plain))
    # Anything else is a string; timestamps too, as yaml.v3 gives them to a map as text.
    return "!!str", text


def _viper_string(node: yaml.Node) -> str | None:
    if not isinstance(node, yaml.ScalarNode):
        return ""  # cast.ToString cannot convert a list or a map
    return _yaml_plain(node.value)[1] if node.style is None else node.value


def _duplicate_keys(node: yaml.Node, seen: set[int]) -> list[str]:
    """yaml.v3's check, mapping by mapping: a key written twice is an error."""
    if id(node) in seen or isinstance(node, yaml.ScalarNode):
        return []
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        return [error for child in node.value for error in _duplicate_keys(child, seen)]
    keys = [key for key, _ in node.value]
    errors = [
        f"line {later.start_mark.line + 1}: mapping key {go_quote(str(later.value))} "
        f"already defined at line {key.start_mark.line + 1}"
        for i, key in enumerate(keys)
        for later in keys[i + 1 :]
        if type(later) is type(key) and later.value == key.value
    ]
    if errors:
        return errors  # yaml.v3 stops at this mapping
    return [error for _, value in node.value for error in _duplicate_keys(value, seen)]


def _not_a_mapping(node: yaml.Node) -> str:
    """yaml.v3's error for a document that is not a mapping."""
    if isinstance(node, yaml.SequenceNode):
        what = "!!seq"
    else:
        tag = _yaml_plain(node.value)[0] if node.style is None else "!!str"
        value = node.value if len(node.value) <= 10 else node.value[:7] + "..."
        what = f"{tag} `{value}`"
    line = node.start_mark.line + 1
    return f"line {line}: cannot unmarshal {what} into map[string]interface {{}}"


def _lowered(mapping: yaml.MappingNode) -> dict[str, yaml.Node]:
    # viper lowers every key; later spellings replace earlier ones.
    return {
        str(key.value).lower(): value
        for key, value in mapping.value
        if isinstance(key, yaml.ScalarNode)
    }


def read_ci_config(text: str) -> dict[str, str]:
    """The rules a ``.dive-ci`` file sets, read as dive's viper reads them.

    1. Only the first YAML document counts; it must be a mapping (or empty), with no key
       written twice in one mapping (yaml.v3's rules).
    2. Keys are compared without regard to case (when two spellings of one key are given dive
       picks one at random; here the last wins); a top-level ``rules.<name>`` key wins over
       ``<name>`` under ``rules``.
    3. A plain scalar is typed as YAML, then turned back into text: ``1.50`` reads as ``1.5``,
       ``1e6`` as ``1000000``, ``20_000_000`` as ``20000000``, ``.inf`` as ``+Inf``; a quoted
       one is taken as written; a list or a mapping reads as "".
    4. A null or missing rule is left out, so its default applies; but when ``rules`` is not a
       mapping it hides every rule, and each then reads as "" (misconfigured).
    """
    try:
        root = next(yaml.compose_all(text, Loader=yaml.SafeLoader), None)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark else ""
        raise CiConfigError(f"While parsing config: yaml: {where}{exc.problem}") from None
    except yaml.YAMLError as exc:
        raise CiConfigError(f"While parsing config: yaml: {exc}") from None
    if root is None or (isinstance(root, yaml.ScalarNode) and _viper_string(root) is None):
        return {}
    errors = [_not_a_mapping(root)] if not isinstance(root, yaml.MappingNode) else []
    errors = errors or _duplicate_keys(root, set())
    if errors:
        raise CiConfigError(
            "While parsing config: yaml: unmarshal errors:\n  " + "\n  ".join(errors)
        )

    top = _lowered(root)
    section = top.get("rules")
    found: dict[str, str] = {}
    for rule in RULES:
        flat = top.get(f"rules.{rule.lower()}")
        value = None if flat is None else _viper_string(flat)
        if value is None and section is not None:
            if isinstance(section, yaml.MappingNode):
                nested = _lowered(section).get(rule.lower())
                value = None if nested is None else _viper_string(nested)
            elif _viper_string(section) is not None:
                value = ""  # viper: a value where a mapping was expected shadows the key
        if value is not None:
            found[rule] = value
    return found


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
        number = go_parse_float(value)
    except ValueError as exc:
        return f"invalid config value ('{value}'): {exc}"
    if not 0 <= number <= 1:
        return f"{key} config value is outside allowed range (0-1), given '{value}'"
    return ""


def _check(key: str, value: str, analysis: Analysis) -> tuple[bool, str]:
    if key == "lowestEfficiency":
        threshold = go_parse_float(value)
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
    threshold = go_parse_float(value)
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
