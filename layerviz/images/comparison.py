"""Two images side by side: where their layers are shared, what each adds, what differs.

Two images share a layer only when the same diff sits on the same parent chain, that is when
their chain IDs agree; so the shared part of two stacks is always a common prefix. Past the
point where they diverge nothing is shared, even a layer with the very same content on another
base, or a layer made by the same instruction (``image-format.md`` §3).

Here: the stacks aligned (``align``, ``line_up``), the byte counts (``numbers``), the config
diff, and the file-level diff kept per process (``file_level``; computed in ``filediff.py``).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict, defaultdict
from difflib import SequenceMatcher
from itertools import zip_longest

from django.utils.translation import gettext as _

from layerviz.lib.instructions import keyword
from layerviz.lib.units import layer_number

from . import filediff
from .models import Image, ImageLayer

RECENT_DIFFS = 16  # file-level diffs kept per process
CONFIG_KEYS = (
    "Entrypoint",
    "Cmd",
    "WorkingDir",
    "User",
    "Env",
    "Labels",
    "ExposedPorts",
    "Volumes",
)


SAME, A_BELOW_B, B_BELOW_A, APART, DIVERGE = "same", "a_below_b", "b_below_a", "apart", "diverge"


@dataclasses.dataclass
class StackPair:
    shared: list[tuple[ImageLayer, ImageLayer]]
    only_a: list[ImageLayer]
    only_b: list[ImageLayer]
    # Layers past the divergence that are shared by content only (same diff_id, other parent):
    # stored once as content, but not shared by an engine that keys layers by chain.
    same_content: dict[int, int]  # position in A -> position in B

    @property
    def diverge_at(self) -> int:
        return len(self.shared)

    @property
    def relation(self) -> str:
        """How the stacks relate: ``same`` (every layer shared: the same filesystem, perhaps
        another config), ``a_below_b`` (B is A with layers on top), ``b_below_a``, ``apart``
        (no layer shared) or ``diverge`` (a common base, then each its own layers)."""
        if not self.only_a and not self.only_b:
            return SAME
        if not self.shared:
            return APART
        if not self.only_a:
            return A_BELOW_B
        if not self.only_b:
            return B_BELOW_A
        return DIVERGE


def align(a: Image, b: Image) -> StackPair:
    layers_a = list(a.layers_in_order())
    layers_b = list(b.layers_in_order())
    shared = []
    for la, lb in zip(layers_a, layers_b, strict=False):
        if la.chain_id != lb.chain_id:
            break
        shared.append((la, lb))
    n = len(shared)
    by_diff_b = {lb.layer_id: lb.position for lb in layers_b[n:]}
    same_content = {
        la.position: by_diff_b[la.layer_id] for la in layers_a[n:] if la.layer_id in by_diff_b
    }
    return StackPair(shared, layers_a[n:], layers_b[n:], same_content)


@dataclasses.dataclass
class Numbers:
    shared_bytes: int
    only_a_bytes: int
    only_b_bytes: int
    shared_compressed: int
    only_a_compressed: int
    only_b_compressed: int
    pull_bytes: int  # compressed bytes a host holding A downloads to get B


def numbers(pair: StackPair, b: Image) -> Numbers:
    a_chains = {la.chain_id for la, _ in pair.shared} | {la.chain_id for la in pair.only_a}
    pull = sum(lb.download for lb in b.layers_in_order() if lb.chain_id not in a_chains)
    return Numbers(
        shared_bytes=sum(la.layer.size for la, _ in pair.shared),
        only_a_bytes=sum(la.layer.size for la in pair.only_a),
        only_b_bytes=sum(lb.layer.size for lb in pair.only_b),
        shared_compressed=sum(la.download for la, _ in pair.shared),
        only_a_compressed=sum(la.download for la in pair.only_a),
        only_b_compressed=sum(lb.download for lb in pair.only_b),
        pull_bytes=pull,
    )


@dataclasses.dataclass
class ConfigDiff:
    key: str
    a: object
    b: object


def config_diff(a: Image, b: Image) -> list[ConfigDiff]:
    out = []
    if a.platform != b.platform:
        out.append(ConfigDiff("platform", a.platform, b.platform))
    for key in CONFIG_KEYS:
        va, vb = a.config.get(key), b.config.get(key)
        if va != vb:
            out.append(ConfigDiff(key, va, vb))
    return out


def env_changes(a: Image, b: Image) -> list[tuple[str, str | None, str | None]]:
    """Environment variables that differ: (name, value in A, value in B)."""

    def as_dict(image: Image) -> dict[str, str]:
        return dict(line.partition("=")[::2] for line in image.config.get("Env") or [])

    ea, eb = as_dict(a), as_dict(b)
    return [(k, ea.get(k), eb.get(k)) for k in sorted(set(ea) | set(eb)) if ea.get(k) != eb.get(k)]


# --- the stacks side by side ----------------------------------------------------------------


@dataclasses.dataclass
class Side:
    link: ImageLayer
    instruction: str
    keyword: str
    note: str = ""

    @property
    def rest(self) -> str:
        """The instruction without its keyword (the keyword is shown as a badge)."""
        return self.instruction[len(self.keyword) :].strip() if self.keyword else self.instruction


def line_up(
    pair: StackPair, a: Image, b: Image
) -> tuple[list[Side], list[tuple[Side | None, Side | None]]]:
    """Shared rows (one per common layer) and diverging rows (A's and B's side by side).

    1. The diverging layers are lined up by instruction, as a text diff lines up lines, so a
       layer one side inserted sits alone on its row instead of pushing the rest askew.
    2. Each layer made by the same instruction, or holding the same content, as a diverging
       layer of the other side, wherever that one sits, is noted as such: it is not shared.
    """
    ia, ib = a.instructions(), b.instructions()
    shared = [
        Side(la, ia.get(la.position, ""), keyword(ia.get(la.position, ""))) for la, _ in pair.shared
    ]
    left = [
        Side(la, ia.get(la.position, ""), keyword(ia.get(la.position, ""))) for la in pair.only_a
    ]
    right = [
        Side(lb, ib.get(lb.position, ""), keyword(ib.get(lb.position, ""))) for lb in pair.only_b
    ]
    content_a = pair.same_content
    text_a = _same_instruction(left, right)
    _note(
        left,
        content_a,
        text_a,
        _("same content as B's layer #%(n)s, on another base: not shared"),
        _(
            "same instruction as B's layer #%(n)s, on another base or with another result: "
            "not shared"
        ),
    )
    _note(
        right,
        {pb: pa for pa, pb in content_a.items()},
        {pb: pa for pa, pb in text_a.items()},
        _("same content as A's layer #%(n)s, on another base: not shared"),
        _(
            "same instruction as A's layer #%(n)s, on another base or with another result: "
            "not shared"
        ),
    )
    return shared, _lined_up(left, right)


def _note(
    sides: list[Side],
    same_content: dict[int, int],
    same_text: dict[int, int],
    content_note: str,
    text_note: str,
) -> None:
    """Mark each of one side's own layers that has a twin on the other side (by content,
    else by instruction) with the note naming it: a twin on another base is not shared."""
    for side in sides:
        position = side.link.position
        if position in same_content:
            side.note = content_note % {"n": layer_number(same_content[position])}
        elif position in same_text:
            side.note = text_note % {"n": layer_number(same_text[position])}


def _same_instruction(left: list[Side], right: list[Side]) -> dict[int, int]:
    """A's layer position -> the first not yet paired layer of B made by the same instruction
    (so a step repeated on both sides pairs in order)."""
    free: dict[str, list[int]] = defaultdict(list)
    for side in right:
        if side.instruction:
            free[side.instruction].append(side.link.position)
    pairs = {}
    for side in left:
        if free.get(side.instruction):
            pairs[side.link.position] = free[side.instruction].pop(0)
    return pairs


def _lined_up(left: list[Side], right: list[Side]) -> list[tuple[Side | None, Side | None]]:
    matcher = SequenceMatcher(
        None, [s.instruction for s in left], [s.instruction for s in right], autojunk=False
    )
    rows: list[tuple[Side | None, Side | None]] = []
    for _op, a1, a2, b1, b2 in matcher.get_opcodes():
        # "equal" and "replace" blocks pair in order; "delete" and "insert" leave one side empty.
        rows.extend(zip_longest(left[a1:a2], right[b1:b2]))
    return rows


# --- the file-level diff, kept ----------------------------------------------------------------


@dataclasses.dataclass
class FileLevel:
    diffs: list[filediff.FileDiff]
    tree: filediff.DiffTree
    summary: filediff.DiffSummary


_recent: OrderedDict[str, FileLevel] = OrderedDict()
_recent_lock = threading.Lock()


def forget_file_levels() -> None:
    """Drop the kept diffs (benchmarks time first comparisons with it)."""
    with _recent_lock:
        _recent.clear()


def _stack_key(image: Image) -> str:
    return image.top_chain.chain_id if image.top_chain is not None else "no layers"


def file_level(pair: StackPair, a: Image, b: Image) -> FileLevel:
    """The file diff of two images, its tree and summary, computed once per process.

    Kept in memory, not in Django's cache: the local-memory cache pickles every value, which for
    two unrelated images (every file differs) costs more than the page. A chain ID names an
    exact stack of layers, so the diff of two never changes; database ids would not do as a
    key, they can be reused after a delete.
    """
    key = f"{_stack_key(a)} {_stack_key(b)}"
    with _recent_lock:
        if key in _recent:
            _recent.move_to_end(key)
            return _recent[key]
    diffs = filediff.file_diff(pair)
    level = FileLevel(diffs, filediff.DiffTree(diffs, pair), filediff.summarize(diffs))
    with _recent_lock:
        _recent[key] = level
        while len(_recent) > RECENT_DIFFS:
            _recent.popitem(last=False)
    return level
