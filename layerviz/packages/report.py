"""What packages a layer changed, and how two images' packages differ: for the layer panel and
compare."""

from __future__ import annotations

from typing import Any

from layerviz.images.models import Image

from . import scan
from .models import ImagePackage


def layer_changes(image: Image, position: int) -> dict[str, list[ImagePackage]]:
    """What the layer at ``position`` did to packages: added, upgraded (with ``previous``),
    removed."""
    scan.scan(image)
    made = list(image.packages.added_in(position).order_by("normalized"))
    removed = image.packages.removed_in(position)
    return {
        "added": [p for p in made if not p.previous],
        "upgraded": [p for p in made if p.previous],
        "removed": list(removed.order_by("normalized")),
    }


def diff(left: Image, right: Image) -> dict[str, Any]:
    """The packages of two images' final filesystems compared by ecosystem, name and
    architecture: added (only right), removed (only left), upgraded (versions differ)."""
    scan.scan(left)
    scan.scan(right)

    def shipped(image: Image) -> dict[tuple[str, str, str], set[str]]:
        out: dict[tuple[str, str, str], set[str]] = {}
        for eco, name, arch, version in image.packages.shipped().values_list(
            "ecosystem", "normalized", "arch", "version"
        ):
            out.setdefault((eco, name, arch), set()).add(version)
        return out

    a, b = shipped(left), shipped(right)
    changed = sum(1 for k in a.keys() & b.keys() if a[k] != b[k])
    return {
        "total": len(a.keys() ^ b.keys()) + changed,
        "added": [(k, sorted(b[k])) for k in sorted(b.keys() - a.keys())],
        "removed": [(k, sorted(a[k])) for k in sorted(a.keys() - b.keys())],
        "upgraded": [
            (k, sorted(a[k]), sorted(b[k])) for k in sorted(a.keys() & b.keys()) if a[k] != b[k]
        ],
    }


def diff_json(found: dict[str, Any]) -> dict[str, list[dict[str, object]]]:
    """``diff``'s answer as compare's JSON gives it."""

    def key(k: tuple[str, str, str]) -> dict[str, object]:
        return {"ecosystem": k[0], "name": k[1], "arch": k[2] or None}

    return {
        "added": [{**key(k), "versions": v} for k, v in found["added"]],
        "removed": [{**key(k), "versions": v} for k, v in found["removed"]],
        "upgraded": [{**key(k), "a": old, "b": new} for k, old, new in found["upgraded"]],
    }
