"""Server time of the explorer on a big image: every tree listing and layer switch.

    .venv/bin/python tests/benchmarks/bench_explorer.py [--files 100000] [--layers 8] [--repeat 20]

Builds (once, cached in var/bench/) an image of FILES files spread over LAYERS layers, with
deep and wide directories, overwrites and deletions; ingests it into a fresh SQLite database
(or the one DATABASE_URL names); then times, in-process through Django's test client (so the
figure is server time: view, queries, template, no network), the requests a person makes:
switching layers, switching modes, expanding directories, sorting by size, filtering, a file's
history. Prints median and worst time per request kind, in milliseconds. The target is 150 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from django_setup import BENCH, fresh_database


def build(path: Path, files: int, layers: int) -> Path:
    from layerviz.lib import synth
    from layerviz.lib.tarwriter import file, whiteout

    per_layer = files // layers
    tars = []
    for n in range(layers):
        entries = []
        for i in range(per_layer):
            # Wide directories (up to 2,000 entries) and deep ones (6 levels).
            top = f"usr/lib/pkg{n}" if i % 3 else f"usr/share/doc/l{n}/a/b/c/d"
            entries.append(file(f"{top}/d{i % 50}/f{i}.so", b"%d" % i * (1 + i % 40)))
        if n:
            entries += [
                file(f"usr/lib/pkg{n - 1}/d{i % 50}/f{i}.so", b"new") for i in range(1, 2000, 3)
            ]
            entries += [
                whiteout(f"usr/lib/pkg{n - 1}/d{i % 50}/f{i}.so") for i in range(2, 2000, 30)
            ]
        tars.append(synth.layer(entries))
    image = synth.Image(layers=tars, tags=["bench/wide:1"])
    return synth.write_docker_archive(path, [image], layout="docker25")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    fresh_database()
    from django.test import Client
    from django.urls import reverse

    from layerviz.images.ingest import ingest
    from layerviz.images.models import DirChanges, EntryChunk

    archive = BENCH / f"wide-{args.files}-{args.layers}.tar"
    if not archive.exists():
        print(f"writing {archive.name} ...", flush=True)
        build(archive, args.files, args.layers)
    started = time.perf_counter()
    [image] = ingest(f"docker-archive:{archive}")
    print(
        f"ingested {image.layer_count} layers, "
        f"{sum(il.layer.entry_count for il in image.layers_in_order()):,} entries "
        f"({EntryChunk.objects.count():,} chunks, {DirChanges.objects.count():,} directory rows) "
        f"in {time.perf_counter() - started:.1f} s"
    )

    client = Client()
    page = reverse("explorer:image", args=[image.digest])
    tree = reverse("explorer:tree", args=[image.digest])
    top = image.layer_count - 1
    htmx = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "layer-panel"}
    cases = {
        "switch layer (changes)": [
            (page, {"layer": n, "mode": "layer"}, htmx) for n in range(image.layer_count)
        ],
        "switch layer (merged)": [
            (page, {"layer": n, "mode": "merged"}, htmx) for n in range(image.layer_count)
        ],
        "expand wide dir (merged)": [
            (tree, {"layer": top, "mode": "merged", "path": f"usr/lib/pkg{n}/d7"}, {})
            for n in range(top)
        ],
        "expand dir, by size": [
            (tree, {"layer": top, "mode": "merged", "path": "usr/lib", "sort": "size"}, {})
        ],
        "expand deep dir": [
            (tree, {"layer": top, "mode": "merged", "path": "usr/share/doc/l3/a/b/c/d"}, {})
        ],
        "filter by kind": [(page, {"layer": top, "mode": "layer", "kind": "D"}, htmx)],
        "search path": [(page, {"layer": top, "mode": "merged", "q": "f1999"}, htmx)],
        "file history": [
            (reverse("explorer:file", args=[image.digest]), {"path": "usr/lib/pkg0/d1/f1.so"}, {})
        ],
        "full image page": [(page, {}, {})],
    }
    print(f"{'request':<28}{'median ms':>10}{'worst ms':>10}")
    for name, requests in cases.items():
        times = []
        for _ in range(max(1, args.repeat // len(requests))):
            for url, params, headers in requests:
                t = time.perf_counter()
                response = client.get(url, params, **headers)
                times.append((time.perf_counter() - t) * 1000)
                assert response.status_code == 200, (url, params, response.status_code)
        print(f"{name:<28}{statistics.median(times):>10.1f}{max(times):>10.1f}")


if __name__ == "__main__":
    main()
