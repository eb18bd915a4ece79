"""Server time of the search across every image, on a store of many images and one big one.

    .venv/bin/python tests/benchmarks/bench_search.py [--images 200] [--files 20000]
        [--big var/bench/real/500k.tar] [--repeat 20] [--postgres postgres://USER:PASSWORD@HOST/DB]

Builds bench_compare.py's store (``build_store``: IMAGES images on 8 bases, the big base with
FILES files) plus one image of 500,000 files (``--big``: the growth image ``real_images.py``
builds and caches, the Debian base plus one layer of 500k small files copied from it; without
it, a synthetic one is made with ``lib/synth``), in a fresh SQLite database (or, with
``--postgres``, a fresh PostgreSQL database made there and dropped after). Then runs a fixed
set of queries of each kind (path substring and glob, file name and name glob, sha256) REPEAT
times each through Django's test client against ``/api/search`` (in process: server time) and
prints, per kind, the median and p95 over every run of its queries, and each query's median
and hit count. The target is 300 ms p95.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_compare import build_store
from django_setup import BENCH, ROOT

QUERIES = {
    "path": [
        "usr/lib/b3/d3/f1003",  # one file of a base, in its 25 images
        "app/main1",  # 111 application files, one image each
        "zoneinfo/Europe/Paris",  # the big image's replicas of one file
        "usr/share/doc/",  # thousands of matches: the first page
        "no/such/file",  # nothing
    ],
    "glob": [
        "/opt/deps*/m29?.py",
        "/data/*/usr/share/zoneinfo/Europe/Par*",
        "*/perl5/*.pm",
    ],
    "name": ["VERSION", "m17.py", "passwd", "os-release", "no-such-name"],
    "name glob": ["m29?.py", "*.pm", "os-rel*"],
    "sha256": [
        hashlib.sha256(b"0").hexdigest(),  # every release-0 app/VERSION
        hashlib.sha256(b"print(7)\n").hexdigest(),  # one application file
        "sha256:" + "0" * 64,  # nothing
    ],
}
KIND_OF = {"glob": "path", "name glob": "name"}


def big_image(path: Path | None, files: int) -> None:
    from layerviz.images.ingest import ingest
    from layerviz.lib import synth
    from layerviz.lib.tarwriter import file

    if path is not None and path.exists():
        ingest(f"docker-archive:{path}")
        return
    folder = Path(tempfile.mkdtemp(dir=BENCH))
    layer = synth.layer(
        file(f"data/{i // 50_000:03d}/d{i // 1000 % 50}/f{i}.txt", b"%d\n" % i)
        for i in range(files)
    )
    image = synth.Image(layers=[layer], tags=["bench/big:1"])
    archive = synth.write_docker_archive(folder / "big.tar", [image], layout="docker25")
    ingest(f"docker-archive:{archive}")
    archive.unlink()


def fresh_postgres(url: str) -> str:
    import psycopg

    name = f"lvbench_search_{os.getpid()}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def drop_postgres(url: str, fresh: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {urlsplit(fresh).path.lstrip('/')} WITH (FORCE)")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--big", type=Path, default=ROOT / "var/bench/real/500k.tar")
    parser.add_argument("--big-files", type=int, default=500_000, help="without --big")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres")
    args = parser.parse_args()

    fresh = fresh_postgres(args.postgres) if args.postgres else None
    if fresh:
        os.environ["DATABASE_URL"] = fresh
    from django_setup import fresh_database

    fresh_database()
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from layerviz.images.models import Image
    from layerviz.search.models import SearchFile

    try:
        started = time.perf_counter()
        build_store(args.images, args.files)
        store_s = time.perf_counter() - started
        started = time.perf_counter()
        big_image(args.big, args.big_files)
        big_s = time.perf_counter() - started
        if connection.vendor == "postgresql":
            # what autovacuum does soon after a bulk load: the planner's statistics
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(
            f"{connection.vendor}: {Image.objects.count()} images, "
            f"{SearchFile.objects.count():,} search rows; store built in {store_s:.0f} s, "
            f"the big image in {big_s:.0f} s"
        )
        client = Client()
        url = reverse("search:api")
        print(f"{'kind':<10} {'median ms':>9} {'p95 ms':>7}   query (median ms, hits)")
        for label, texts in QUERIES.items():
            kind = KIND_OF.get(label, label)
            times: list[float] = []
            each = []
            for text in texts:
                mine = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    response = client.get(url, {"q": text, "kind": kind})
                    mine.append((time.perf_counter() - t) * 1000)
                    assert response.status_code == 200, (text, response.content[:300])
                answer = response.json()
                hits = f"{len(answer['hits'])}{'+' if answer['more'] else ''}"
                each.append(f"{text} ({statistics.median(mine):.0f}, {hits})")
                times.extend(mine)
            print(
                f"{label:<10} {statistics.median(times):>9.0f} {percentile(times, 95):>7.0f}   "
                + "; ".join(each)
            )
    finally:
        if fresh:
            drop_postgres(args.postgres, fresh)


if __name__ == "__main__":
    main()
