"""Two recorded containers of ``lesson/layers:1.0``, for the writable-layer lesson on a laptop
without a Docker engine: what ``docker diff`` and the archive API would report after the app
ran, written with ``images.containers.record`` like a live one recorded by
``manage.py record_container``.

Each copy-up is as big as the whole lower file plus what the app wrote: the sizes come from the
indexed image, so they agree with what its pages show.
"""

from __future__ import annotations

from typing import Any

from layerviz.images import containers
from layerviz.images.models import Image
from layerviz.lib import changes

IMAGE = "lesson/layers:1.0"
# (name, [(path, kind, bytes the app wrote: a new file's size, or what it appended)])
RUNS = [
    (
        "lesson-web-1",
        [
            ("srv/app/uploads/photo-0001.jpg", "A", 284_113),
            ("srv/app/config.ini", "C", 38),  # appended a line: the whole file copied up
            ("srv/app/start.sh", "C", 0),  # chmod only: copied up all the same
            # The app trusted one more certificate: 213 kB copied up for 1.9 kB appended.
            ("etc/ssl/certs/ca-certificates.crt", "C", 1_923),
            ("srv/app/public/index.html", "D", 0),
            ("tmp/app.pid", "A", 6),
        ],
    ),
    (
        "lesson-web-2",
        [
            ("srv/app/uploads/photo-0002.jpg", "A", 198_406),
            ("srv/app/config.ini", "C", 38),
            ("tmp/app.pid", "A", 6),
        ],
    ),
]


def record(image: Image) -> list[str]:
    """Record both containers on ``image`` (again: the same changes replace the old ones)."""
    paths = [path for _, run in RUNS for path, _, _ in run]
    folders = {folder for path in paths for folder in changes.ancestors(path)}
    lower = containers.origins(image, [*paths, *folders])
    names = []
    for name, run in RUNS:
        said: list[dict[str, Any]] = []
        # Every directory above a changed path shows in ``docker diff`` too.
        for folder in sorted({f for path, _, _ in run for f in changes.ancestors(path)}):
            # A folder the image has is changed (C); one the app made is added (A).
            kind = "C" if folder in lower else "A"
            said.append({"path": folder, "kind": kind, "type": "dir", "size": 4096})
        for path, kind, written in run:
            size = None if kind == "D" else written + (lower[path].size if kind == "C" else 0)
            said.append({"path": path, "kind": kind, "size": size, "type": "file"})
        containers.record(name=name, image=image, changes=said, state="exited")
        names.append(name)
    return names
