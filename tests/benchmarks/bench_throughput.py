"""Ingest throughput of background workers: 1, 2 and 4 at once, on PostgreSQL, per queue backend.

    .venv/bin/python tests/benchmarks/bench_throughput.py --postgres postgres://USER:PASSWORD@HOST/DB
        [--workers 1 2 4] [--backends database rq] [--inputs base python node 25k 100k] [--runs 1]
        [--images var/bench/real]

The inputs are the real images of ``real_images.py`` (``var/bench/real/NAME.tar``, built there
first), which share their Debian base layer as a team's images do. Each run, for each backend
and number of workers, in a fresh database made on the ``--postgres`` server (and, for RQ, an
emptied private ``redis-server``):

1. queues every input with ``manage.py ingest --queue`` (the add form's queue), no worker
   running yet;
2. starts the workers (``manage.py worker --batch``, each exits once nothing is left) and times
   from their start to the last one's exit: start-up included, as a worker started on demand
   pays it;
3. checks every job is done, and prints images a minute and the
   archives' MB a second (every archive's whole size, the shared base once per image, as the
   user sees the queue drain), median of the runs; the runs go round every configuration in
   turn, so that a load that drifts on a shared machine weighs on each about the same.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "var" / "bench" / "real"
MB = 1_000_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def _fresh_database(postgres: str, n: int) -> str:
    import psycopg

    name = f"lvthroughput_{os.getpid()}_{n}"
    with psycopg.connect(postgres, autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {name}")
        db.execute(f"CREATE DATABASE {name}")
    return urlunsplit(urlsplit(postgres)._replace(path=f"/{name}"))


def _drop_database(postgres: str, url: str) -> None:
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {urlsplit(url).path.lstrip('/')} WITH (FORCE)")


class Redis:
    """A private redis-server on loopback, emptied before each run."""

    def __init__(self, folder: str) -> None:
        if shutil.which("redis-server") is None:
            raise SystemExit(
                "the rq backend needs Debian's redis-server (apt install redis-server)"
            )
        self.port = _free_port()
        options = ["--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--dir", folder]
        self.server = subprocess.Popen(
            ["redis-server", *options],
            stdout=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        import redis

        self.client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                self.client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise SystemExit("redis-server never answered")

    def empty(self) -> None:
        self.client.flushall()

    def close(self) -> None:
        self.server.kill()
        self.server.wait()


def run_once(
    *, archives: list[Path], workers: int, backend: str, postgres: str, redis: Redis | None, n: int
) -> float:
    """Seconds for ``workers`` workers to ingest every archive queued."""
    url = _fresh_database(postgres, n)
    data = tempfile.mkdtemp(prefix="lvthroughput-", dir=ROOT / "var" / "bench")
    env = dict(os.environ, DATABASE_URL=url, LAYERVIZ_DATA_DIR=data, LAYERVIZ_LOG_FORMAT="json")
    env.pop("LAYERVIZ_REDIS_URL", None)
    if backend == "rq":
        assert redis is not None
        redis.empty()
        env["LAYERVIZ_REDIS_URL"] = redis.url
    try:
        _manage(env, "migrate", "-v0")
        for archive in archives:
            _manage(env, "ingest", "--queue", f"docker-archive:{archive}")
        started = time.perf_counter()
        running = [
            subprocess.Popen(
                [sys.executable, "manage.py", "worker", "--batch", "--name", f"w{n}-{i}"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i in range(workers)
        ]
        for worker in running:
            worker.wait()
        seconds = time.perf_counter() - started
        jobs = json.loads(_manage(env, "jobs", "--json"))
        states = sorted({job["state"] for job in jobs})
        if states != ["done"] or len(jobs) != len(archives):
            raise SystemExit(f"{backend}, {workers} workers: jobs ended {states}: {jobs}")
        return seconds
    finally:
        _drop_database(postgres, url)
        shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--postgres",
        default=os.environ.get("LAYERVIZ_TEST_POSTGRES"),
        help="a PostgreSQL database whose user may create databases "
        "(default: LAYERVIZ_TEST_POSTGRES)",
    )
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--backends", nargs="*", choices=["database", "rq"], default=["database"])
    parser.add_argument("--inputs", nargs="*", default=["base", "python", "node", "25k", "100k"])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--images", type=Path, default=REAL, help=f"the archives (default {REAL})")
    args = parser.parse_args()
    if not args.postgres:
        raise SystemExit("--postgres (or LAYERVIZ_TEST_POSTGRES) names the PostgreSQL to use")
    archives = [args.images / f"{name}.tar" for name in args.inputs]
    missing = [str(a) for a in archives if not a.exists()]
    if missing:
        raise SystemExit(f"missing {missing}: run tests/benchmarks/real_images.py first")
    total_mb = sum(a.stat().st_size for a in archives) / MB
    (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="lvthroughput-redis-")
    redis = Redis(folder) if "rq" in args.backends else None
    print(
        f"{len(archives)} images ({', '.join(args.inputs)}), {total_mb:,.0f} MB of archives; "
        f"{os.cpu_count()} CPUs; PostgreSQL; median of {args.runs}; "
        f"load average at the start: {os.getloadavg()[0]:.1f}"
    )
    print(f"{'backend':<9} {'workers':>7} {'seconds':>8} {'images/min':>10} {'MB/s':>7}   runs (s)")
    configs = [(backend, workers) for backend in args.backends for workers in args.workers]
    times: dict[tuple[str, int], list[float]] = {config: [] for config in configs}
    n = 0
    try:
        # Round after round of every configuration, rather than each one's runs in a row: on a
        # shared machine the load drifts, and each round sees about the same.
        for _ in range(args.runs):
            for backend, workers in configs:
                n += 1
                times[backend, workers].append(
                    run_once(
                        archives=archives,
                        workers=workers,
                        backend=backend,
                        postgres=args.postgres,
                        redis=redis,
                        n=n,
                    )
                )
        for backend, workers in configs:
            seconds = statistics.median(times[backend, workers])
            spread = "–".join(
                f"{t:.1f}" for t in (min(times[backend, workers]), max(times[backend, workers]))
            )
            print(
                f"{backend:<9} {workers:>7} {seconds:>8.1f} "
                f"{60 * len(archives) / seconds:>10.1f} {total_mb / seconds:>7.0f}   {spread}"
            )
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        if redis is not None:
            redis.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
