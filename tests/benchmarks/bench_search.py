"""Server time of the search across every image, on a store of many images and one big one.

    .venv/bin/python tests/benchmarks/bench_search.py [--images 200] [--files 20000]
        [--big var/bench/real/500k.tar] [--repeat 20] [--postgres postgres://USER:PASSWORD@HOST/DB]

Builds bench_compare.py's store (``build_store``: IMAGES images on 8 bases, the big base with
FILES files) plus one image of 500,000 files (``--big``: the growth image ``real_images.py``
builds and caches, the Debian base plus one layer of 500k small files copied from it; without
it, a synthetic one is made with ``lib/synth``), in a fresh SQLite database (or, with
``--postgres``, a fresh PostgreSQL database made there and dropped after). Then runs a fixed
set of queries of each kind (path substring and glob, file name and name glob, sha256, package:
over 40 more images with package databases, ``packaged_images``) REPEAT
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
    "package": [
        "openssl 3.0.11",  # in the packaged images that have not upgraded it
        "openssl",  # every version, upgraded ones too
        "pkg-217",  # one of 400 packages of every packaged base
        "pyyaml@6.0.1",  # a Python distribution, by the name pip compares
        "libc6",  # the big image's own Debian base
        "no-such-package",
    ],
}
PACKAGED = 40  # images with package databases (``packaged_images``)
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


def packaged_images(count: int) -> None:
    """``count`` images on 4 bases, each base with a dpkg status of 400 packages (openssl
    3.0.11 among them), half the images upgrading openssl in a layer of their own, each with a
    Python distribution: the package rows a search across images reads."""
    from layerviz.images.ingest import ingest
    from layerviz.lib import synth
    from layerviz.lib.tarwriter import file

    def status(openssl: str, base: int) -> bytes:
        names = [(f"pkg-{i}", f"1.{base}.{i}") for i in range(399)] + [("openssl", openssl)]
        return b"".join(
            b"Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: %s\n\n"
            % (n.encode(), v.encode())
            for n, v in names
        )

    bases = [synth.layer([file("var/lib/dpkg/status", status("3.0.11", b))]) for b in range(4)]
    folder = Path(tempfile.mkdtemp(dir=BENCH))
    for n in range(count):
        layers = [bases[n % 4]]
        if n % 2:
            layers.append(synth.layer([file("var/lib/dpkg/status", status("3.0.13", n % 4))]))
        meta = b"Metadata-Version: 2.1\nName: PyYAML\nVersion: 6.0.%d\n" % (n % 3)
        layers.append(synth.layer([file("app/RELEASE", b"%d\n" % n)]))  # each image its own
        layers.append(
            synth.layer(
                [file(f"usr/lib/python3/dist-packages/PyYAML-6.0.{n % 3}.dist-info/METADATA", meta)]
            )
        )
        image = synth.Image(layers=layers, tags=[f"bench/packaged{n}:1"])
        path = synth.write_docker_archive(folder / f"{n}.tar", [image], layout="docker25")
        ingest(f"docker-archive:{path}")
        path.unlink()


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
        packaged_images(PACKAGED)
        from layerviz.packages import scan
        from layerviz.packages.models import ImagePackage

        scan.scan_all()  # as the end of every ingest does (``bench_compare`` calls ingest())
        if connection.vendor == "postgresql":
            # what autovacuum does soon after a bulk load: the planner's statistics
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(
            f"{connection.vendor}: {Image.objects.count()} images, "
            f"{SearchFile.objects.count():,} search rows, "
            f"{ImagePackage.objects.count():,} package rows; store built in {store_s:.0f} s, "
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
                found = len(answer["hits"]) + len(answer["packages"])
                hits = f"{found}{'+' if answer['more'] else ''}"
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
