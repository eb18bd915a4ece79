"""Honest accounting of wasted space: what a rebuild could actually save, and why.

dive counts every copy of a path seen twice, the first included, and misses deletions made with
a directory whiteout or an opaque directory (``peers.md`` §b, dive #684). Here each *copy that
does not survive* is counted once, with the reason it does not survive, from the per-path
history of the image (``lib/changes.py`` rows, where deletions are already expanded to every
file they removed):

* **deleted**: a later layer deleted it (a whiteout of the file, of a parent directory, or an
  opaque directory);
* **overwritten**: a later layer wrote different content (or another type of file) there;
* **identical**: a later layer wrote the very same bytes again;
* **metadata**: a later layer changed only mode, owner or times — which still stores a whole
  copy of the file (a ``chmod`` or ``chown`` in its own step).

Only files count (a directory holds no bytes of its own).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable

from . import changes, tarwalk

DELETED, OVERWRITTEN, IDENTICAL, METADATA = "deleted", "overwritten", "identical", "metadata"
KINDS = (DELETED, OVERWRITTEN, IDENTICAL, METADATA)


@dataclasses.dataclass(frozen=True, slots=True)
class Version:
    """One row of a path's history: what layer ``depth`` did to it."""

    path: str
    depth: int
    kind: str  # A, M, U, D as in lib/changes
    detail: str
    size: int
    type: str = tarwalk.REG  # tar typeflag as lib/tarwalk normalises it

    @property
    def is_dir(self) -> bool:
        return self.type == tarwalk.DIR


@dataclasses.dataclass(slots=True)
class Shadowed:
    """A copy of a file that a later layer made useless."""

    path: str
    size: int
    added_by: int  # layer that wrote the copy
    undone_by: int  # layer that deleted or replaced it
    reason: str
    type: str = tarwalk.REG  # what the copy was: a regular file, a symlink...


@dataclasses.dataclass
class WasteReport:
    written: int = 0  # every byte every layer wrote into files
    reclaimable: int = 0
    by_reason: dict[str, list[int]] = dataclasses.field(
        default_factory=dict
    )  # reason -> [bytes, files]
    shadowed: list[Shadowed] = dataclasses.field(default_factory=list)
    # (added_by, undone_by) -> [bytes, files, reason counts]
    by_step: dict[tuple[int, int], list[int]] = dataclasses.field(default_factory=dict)

    @property
    def score(self) -> float:
        """The share of written bytes still in the final filesystem."""
        return 1.0 if self.written == 0 else 1 - self.reclaimable / self.written


def _reason(later: Version) -> str:
    if later.kind == changes.DELETED:
        return DELETED
    if later.kind == changes.UNCHANGED:
        return IDENTICAL
    if later.detail == "m":
        return METADATA
    return OVERWRITTEN


def account(versions: Iterable[Version]) -> WasteReport:
    """``versions`` sorted by path, then depth.

    Directory rows only matter when a directory replaces a file (the file's copy is then
    overwritten); a directory that is merely the parent of a change wrote nothing.
    """
    report = WasteReport(by_reason={k: [0, 0] for k in KINDS})
    previous: Version | None = None
    for version in versions:
        if version.kind == changes.UNCHANGED and version.detail == changes.PARENT:
            continue
        if version.kind != changes.DELETED and not version.is_dir:
            report.written += version.size
        if (
            previous is not None
            and previous.path == version.path
            and previous.kind != changes.DELETED
            and not previous.is_dir
        ):
            reason = _reason(version)
            shadow = Shadowed(
                previous.path, previous.size, previous.depth, version.depth, reason, previous.type
            )
            report.shadowed.append(shadow)
            report.reclaimable += previous.size
            report.by_reason[reason][0] += previous.size
            report.by_reason[reason][1] += 1
            step = report.by_step.setdefault((previous.depth, version.depth), [0, 0])
            step[0] += previous.size
            step[1] += 1
        previous = version
    return report


@dataclasses.dataclass(frozen=True)
class LayerWaste:
    """The bytes one layer wrote that later layers undid, and which layers did it."""

    layer: int  # position, 0-based
    wasted: int
    files: int
    undone_by: tuple[tuple[int, int], ...]  # (layer, bytes), by layer


def per_layer(report: WasteReport, layer_count: int) -> list[LayerWaste]:
    """One ``LayerWaste`` per layer, bottom first (zeros for a layer nothing undid)."""
    totals = [[0, 0] for _ in range(layer_count)]
    undone: list[dict[int, int]] = [defaultdict(int) for _ in range(layer_count)]
    for (added, by), (size, files) in report.by_step.items():
        totals[added][0] += size
        totals[added][1] += files
        undone[added][by] += size
    return [
        LayerWaste(i, wasted, files, tuple(sorted(undone[i].items())))
        for i, (wasted, files) in enumerate(totals)
    ]
