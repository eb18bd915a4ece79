"""Test-only: hold an ingest at a named point, so that a test can make a race happen exactly.

Races between processes (a delete while an ingest relies on a layer, an undo while another
ingest reuses a base) cannot be timed from outside; tests set ``LAYERVIZ_TEST_PAUSE`` in the
environment of the process they start::

    LAYERVIZ_TEST_PAUSE=image,read:1@/tmp/folder

At each listed point the process creates ``FOLDER/POINT.reached`` and waits until the test
creates ``FOLDER/POINT.go``. Nothing sets the variable outside tests; unset, ``pause`` is one
dictionary lookup. The points are ``read:N`` (before the layer at position N is read here),
``image`` (every layer of the image is indexed or relied on, its chains and the image not
made yet), ``chain:N`` (the chains below position N are built or relied on, N's not yet),
``wait`` (before waiting for a layer another worker is indexing) and ``names`` (the image is
found indexed already; its new names are not on it yet).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

VARIABLE = "LAYERVIZ_TEST_PAUSE"
# A test that forgets to release a point must not hang its run forever.
TIMEOUT_SECONDS = 120


def pause(point: str) -> None:
    spec = os.environ.get(VARIABLE)
    if not spec:
        return
    points, _, folder = spec.rpartition("@")
    if point not in points.split(","):
        return
    Path(folder, f"{point}.reached").touch()
    go = Path(folder, f"{point}.go")
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
