"""Images built by the real Docker engine from the Dockerfiles in tests/dockerfiles.

There is no base image to pull (no internet), so the base is made with ``docker import`` from a
rootfs holding Debian's static busybox, the way a teacher would make a tiny base by hand.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from . import components

DOCKERFILES = Path(__file__).resolve().parent / "dockerfiles"
BASE = "lv/busybox:test"
BUSYBOX = Path("/bin/busybox")
APPLETS = [
    "sh",
    "ls",
    "rm",
    "mkdir",
    "dd",
    "echo",
    "cat",
    "chmod",
    "chown",
    "cp",
    "mv",
    "touch",
    "ln",
]
IMAGES = {
    "teaching": "lv/teaching:1.0",
    "sibling": "lv/sibling:1.0",
    "multistage": "lv/multistage:1.0",
    "container": "lv/container:1.0",
}


def busybox_problem() -> str | None:
    if not BUSYBOX.exists():
        return "Debian's busybox-static is not installed (apt install busybox-static)"
    return None


def base_rootfs() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("bin", "tmp", "usr", "usr/local", "usr/local/bin"):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = (
                tarfile.DIRTYPE,
                0o1777 if name == "tmp" else 0o755,
                1_700_000_000,
            )
            tar.addfile(info)
        data = BUSYBOX.read_bytes()
        info = tarfile.TarInfo("bin/busybox")
        info.size, info.mode, info.mtime = len(data), 0o755, 1_700_000_000
        tar.addfile(info, io.BytesIO(data))
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname, info.mode, info.mtime = (
                tarfile.SYMTYPE,
                "busybox",
                0o777,
                1_700_000_000,
            )
            tar.addfile(info)
    return buf.getvalue()


def build_all(client) -> dict[str, str]:
    """Import the base and build every test image (the engine's cache makes reruns quick)."""
    components.need("busybox-static", busybox_problem())
    try:
        client.images.get(BASE)
    except Exception:  # not there yet: import it
        client.api.import_image_from_data(base_rootfs(), repository=BASE.split(":")[0], tag="test")
    for name, tag in IMAGES.items():
        client.images.build(
            path=str(DOCKERFILES / name), tag=tag, network_mode="none", rm=True, forcerm=True
        )
    return dict(IMAGES)


def save(client, ref: str, path: Path) -> Path:
    with open(path, "wb") as f:
        for chunk in client.api.get_image(ref, chunk_size=1 << 20):
            f.write(chunk)
    return path
