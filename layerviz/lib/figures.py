"""The stored analysis of an image, as one typed shape: dive's figures, ours, the advice.

``images/efficiency`` computes a ``Figures`` and stores ``to_json()`` in an ``Analysis`` row;
the efficiency page, its charts and the ``analyze`` command read ``Analysis.figures``, so the
keys of the JSON are known here only. The JSON keeps the layout earlier versions stored.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .advice import Finding
from .waste import KINDS, LayerWaste


@dataclasses.dataclass(frozen=True)
class DiveFigures:
    """dive v0.13.1's numbers, as ``dive`` prints them."""

    size: int
    user_size: int
    wasted: int
    score: float
    user_wasted_percent: float | None  # None where dive divides by zero (no user layers)
    inefficient_files: int

    def __post_init__(self) -> None:
        # JSON (and PostgreSQL's jsonb) has no NaN or infinity.
        ratio = self.user_wasted_percent
        if ratio is not None and not math.isfinite(ratio):
            object.__setattr__(self, "user_wasted_percent", None)


@dataclasses.dataclass(frozen=True)
class OurFigures:
    """layerviz's accounting: each copy that does not reach the final filesystem, once."""

    written: int
    reclaimable: int
    score: float
    by_reason: dict[str, tuple[int, int]]  # waste reason -> (bytes, files), in waste.KINDS order
    per_layer: list[LayerWaste]

    def wasteful_layers(self) -> list[LayerWaste]:
        """The layers that wrote bytes a later layer undid."""
        return [row for row in self.per_layer if row.wasted]


@dataclasses.dataclass(frozen=True)
class Figures:
    dive: DiveFigures
    ours: OurFigures
    advice: list[Finding]

    def to_json(self) -> dict[str, Any]:
        """The three JSON columns of an ``Analysis`` row, by name."""
        return {
            "dive": dataclasses.asdict(self.dive),
            "ours": {
                **dataclasses.asdict(self.ours),
                "by_reason": {k: list(v) for k, v in self.ours.by_reason.items()},
                "per_layer": [
                    {**dataclasses.asdict(row), "undone_by": [list(p) for p in row.undone_by]}
                    for row in self.ours.per_layer
                ],
            },
            "advice": [
                {**dataclasses.asdict(f), "paths": [list(p) for p in f.paths]} for f in self.advice
            ],
        }

    @classmethod
    def from_json(cls, dive: dict, ours: dict, advice: list[dict]) -> Figures:
        return cls(
            dive=DiveFigures(**dive),
            ours=OurFigures(
                written=ours["written"],
                reclaimable=ours["reclaimable"],
                score=ours["score"],
                by_reason={k: tuple(ours["by_reason"].get(k, (0, 0))) for k in KINDS},
                per_layer=[
                    LayerWaste(
                        row["layer"],
                        row["wasted"],
                        row["files"],
                        tuple((layer, size) for layer, size in row["undone_by"]),
                    )
                    for row in ours["per_layer"]
                ],
            ),
            advice=[
                Finding(
                    code=f["code"],
                    saving=f["saving"],
                    layers=list(f["layers"]),
                    paths=[(path, size) for path, size in f["paths"]],
                    params=dict(f["params"]),
                    in_image=f.get("in_image", 0),
                )
                for f in advice
            ],
        )
