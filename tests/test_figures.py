"""The stored analysis shape (lib.figures) and the one rule for showing layer positions."""

from __future__ import annotations

import json
import math

import pytest

from layerviz.explorer.links import layer_url
from layerviz.lib.advice import Finding
from layerviz.lib.figures import DiveFigures, Figures, OurFigures
from layerviz.lib.units import layer_no, layer_number
from layerviz.lib.waste import KINDS, LayerWaste


def _figures(ratio: float | None = 0.25) -> Figures:
    return Figures(
        dive=DiveFigures(1000, 600, 300, 0.7, ratio, 2),
        ours=OurFigures(
            written=900,
            reclaimable=200,
            score=1 - 200 / 900,
            by_reason={k: (i * 10, i) for i, k in enumerate(KINDS)},
            per_layer=[LayerWaste(0, 200, 2, ((1, 150), (2, 50))), LayerWaste(1, 0, 0, ())],
        ),
        advice=[Finding("cache_apt", 120, [1], [("var/lib/apt/lists/x", 120)], {"files": 1})],
    )


def test_figures_come_back_unchanged_from_the_json_an_analysis_row_stores():
    figures = _figures()
    stored = json.loads(json.dumps(figures.to_json()))  # what the JSON columns give back

    assert Figures.from_json(**stored) == figures


def test_the_stored_json_keeps_the_layout_earlier_versions_wrote():
    stored = _figures().to_json()

    assert stored["ours"]["per_layer"][0] == {
        "layer": 0,
        "wasted": 200,
        "files": 2,
        "undone_by": [[1, 150], [2, 50]],
    }
    assert stored["ours"]["by_reason"]["deleted"] == [0, 0]
    assert stored["advice"][0]["paths"] == [["var/lib/apt/lists/x", 120]]


@pytest.mark.parametrize("ratio", [math.nan, math.inf])
def test_a_ratio_dive_cannot_compute_is_stored_as_none(ratio):
    assert _figures(ratio).dive.user_wasted_percent is None
    assert json.dumps(_figures(ratio).to_json())  # strict JSON: no NaN


def test_only_layers_that_wrote_undone_bytes_are_wasteful():
    assert [row.layer for row in _figures().ours.wasteful_layers()] == [0]


def test_layer_positions_count_from_one_for_people():
    assert (layer_number(0), layer_no(0), layer_no(11)) == (1, "#1", "#12")


def test_a_layer_link_opens_the_layer_s_own_changes_at_a_directory():
    assert layer_url("sha256:ab", 2) == "/images/sha256:ab/?layer=2&mode=layer"
    assert (
        layer_url("sha256:ab", 0, "usr/share/my docs")
        == "/images/sha256:ab/?layer=0&mode=layer&path=usr/share/my%20docs"
    )
