"""Server time of the pages on a store of real images: a first comparison of two big unrelated
images, the widest directory, and a path search on a 500,000-file image.

    .venv/bin/python tests/benchmarks/bench_pages.py [--repeat 20]

Ingests (into a fresh SQLite database, or the one DATABASE_URL names) the real images of
``real_images.py`` (built by the local Docker engine: Debian + Python, Debian + Node, and the
growth series up to 500,000 files), then times in-process through Django's test client, so the
figures are server time (view, queries, template; no network), after one warm-up request:

* the compare page and ``/api/compare`` of the Python and the Node image, each time as a first
  comparison (the per-process cache of comparisons is emptied before each request);
* the widest directory of the store (500 rows shown), as the htmx fragment and as the whole
  image page with it open;
* a path search in the merged view of the 500,000-file image: a rare name, a common one, and
  one that matches 100,000 paths.

Prints median and p95 in milliseconds. The targets are 500 ms for the first comparison and
100 ms for the rest.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_images  # beside this script
from django_setup import fresh_database

IMAGES = ["python", "node", "25k", "100k", "500k"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if problem := real_images.engine_problem():
        raise SystemExit(f"the real images need a Docker engine: {problem}")
    archives = {name: real_images.saved(name) for name in IMAGES}
    fresh_database()

    from django.test import Client

    from layerviz.images import comparison
    from layerviz.images.ingest import ingest
    from layerviz.images.models import DirChanges

    started = time.perf_counter()
    images = {name: ingest(f"docker-archive:{path}")[0] for name, path in archives.items()}
    print(f"store: {len(images)} images, ingested in {time.perf_counter() - started:.0f} s")
    widest = DirChanges.objects.order_by("-count").select_related("chain").first()
    owner = next(i for i in images.values() if i.image_layers.filter(chain=widest.chain).exists())
    layer = owner.layer_count - 1
    client = Client()
    client.get("/")

    def timed(label: str, url: str, *, cold: bool = False, **headers: str) -> None:
        times = []
        for _ in range(args.repeat):
            if cold:
                comparison.forget_file_levels()
            start = time.perf_counter()
            response = client.get(url, headers=headers)
            times.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")
        times.sort()
        p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
        print(f"{label:<44}{statistics.median(times):>10.0f}{p95:>10.0f}", flush=True)

    py, node, big = images["python"], images["node"], images["500k"]
    print(f"{'request':<44}{'median ms':>10}{'p95 ms':>10}")
    timed(
        "first compare, python vs node (page)", f"/compare?a={py.digest}&b={node.digest}", cold=True
    )
    timed(
        "first compare, python vs node (API)",
        f"/api/compare?a={py.digest}&b={node.digest}",
        cold=True,
    )
    timed(
        "first compare, python vs 500k (API)",
        f"/api/compare?a={py.digest}&b={big.digest}",
        cold=True,
    )
    query = f"layer={layer}&mode=merged&path={widest.dir}"
    timed(
        f"widest directory ({widest.count} entries), fragment",
        f"/images/{owner.digest}/tree?{query}",
        HX_Request="true",
    )
    timed("widest directory, whole image page", f"/images/{owner.digest}/?{query}")
    for needle in ("zzz", ".so", "lib/x86"):
        timed(
            f"search {needle!r} on the 500k image",
            f"/images/{big.digest}/?layer=1&mode=merged&q={needle}",
            HX_Request="true",
            HX_Target="layer-panel",
        )


if __name__ == "__main__":
    main()
