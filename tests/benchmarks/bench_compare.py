"""Server time of the comparison and shared-layer pages with a store of many images.

    .venv/bin/python tests/benchmarks/bench_compare.py [--images 200] [--files 20000] [--repeat 10]

Builds a store of IMAGES images (8 base images, each with a stack of dependency layers and an
application layer per release; the big base has FILES files) in a fresh SQLite database (or
DATABASE_URL), then times in-process, through Django's test client (server time): the shared
layers page and its JSON for all images, and comparisons of two releases of one application,
of two applications on one base, and of two images with nothing in common (a whole-filesystem
file diff, then its tree filtered by kind, sorted by size and searched), cold (first request)
and warm. Prints median and worst, in milliseconds.
The target is 500 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from django_setup import BENCH, fresh_database


def build_store(count: int, files: int) -> None:
    from layerviz.images.ingest import ingest
    from layerviz.lib import synth
    from layerviz.lib.tarwriter import file

    bases = [
        synth.layer(
            [
                file(f"usr/lib/b{b}/d{i % 40}/f{i}", b"%d" % i * (1 + i % 9))
                for i in range(files if b == 0 else 2000)
            ]
        )
        for b in range(8)
    ]
    deps = [
        synth.layer([file(f"opt/deps{d}/m{i}.py", b"x" * (100 + i)) for i in range(300)])
        for d in range(5)
    ]
    folder = Path(tempfile.mkdtemp(dir=BENCH))
    n = 0
    while n < count:
        b, d, release = n % 8, n % 5, n // 40
        app = synth.layer(
            [file(f"app/main{n}.py", b"print(%d)\n" % n), file("app/VERSION", b"%d" % release)]
        )
        image = synth.Image(layers=[bases[b], deps[d], app], tags=[f"bench/app{n % 40}:{release}"])
        path = synth.write_docker_archive(folder / f"{n}.tar", [image], layout="docker25")
        ingest(f"docker-archive:{path}")
        path.unlink()
        n += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()

    fresh_database()
    from django.test import Client
    from django.urls import reverse

    from layerviz.images import comparison
    from layerviz.images.lookup import find_image
    from layerviz.images.models import DirChanges, Image

    started = time.perf_counter()
    build_store(args.images, args.files)
    print(
        f"store: {Image.objects.count()} images, {DirChanges.objects.count():,} directory rows, "
        f"built in {time.perf_counter() - started:.0f} s"
    )

    client = Client()
    same_app = (find_image("bench/app0:0").digest, find_image("bench/app0:1").digest)
    same_base = (find_image("bench/app0:0").digest, find_image("bench/app8:0").digest)
    # app0 sits on the big base, app1 on another: nothing shared, every file differs.
    disjoint = (find_image("bench/app0:0").digest, find_image("bench/app1:0").digest)
    cases = {
        "shared layers page (all)": (reverse("compare:store"), {}),
        "store API (all)": (reverse("compare:api-store"), {}),
        "compare two releases": (reverse("compare:compare"), {"a": same_app[0], "b": same_app[1]}),
        "compare apps on one base": (
            reverse("compare:compare"),
            {"a": same_base[0], "b": same_base[1]},
        ),
        "compare disjoint images": (
            reverse("compare:compare"),
            {"a": disjoint[0], "b": disjoint[1]},
        ),
        "compare API, disjoint": (
            reverse("compare:api-compare"),
            {"a": disjoint[0], "b": disjoint[1]},
        ),
        "diff tree, expand usr/lib": (
            reverse("compare:tree"),
            {"a": disjoint[0], "b": disjoint[1], "path": "usr/lib"},
        ),
        "diff, only-in-A by size": (
            reverse("compare:compare"),
            {"a": disjoint[0], "b": disjoint[1], "kind": "removed", "sort": "size"},
        ),
        "diff panel, path search": (
            reverse("compare:compare"),
            {"a": disjoint[0], "b": disjoint[1], "q": "d1/"},
            {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "diff-panel"},
        ),
    }
    print(f"{'request':<28}{'cold ms':>9}{'median ms':>11}{'worst ms':>10}")
    for name, (url, params, *headers) in cases.items():
        comparison.forget_file_levels()  # the first request of each kind is cold
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            response = client.get(url, params, **(headers[0] if headers else {}))
            times.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200, (name, response.status_code)
        print(f"{name:<28}{times[0]:>9.0f}{statistics.median(times):>11.0f}{max(times):>10.0f}")


if __name__ == "__main__":
    main()
