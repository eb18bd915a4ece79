"""The benchmark scripts (not run by the tests) still start: their imports and arguments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCHMARKS.glob("*.py") if p.name.startswith(("bench_", "real_")))


def test_every_benchmark_script_is_checked():
    expected = {"bench_ingest.py", "bench_pages.py", "bench_first_paint.py", "real_images.py"}
    assert expected <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_benchmark_script_starts_and_explains_itself(script):
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
