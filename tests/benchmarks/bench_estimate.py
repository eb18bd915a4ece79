"""How close the download-size estimate of plain-tar layers comes to what a registry is sent.

    .venv/bin/python tests/benchmarks/bench_estimate.py [python node ...]

For each real image of ``real_images.py`` (``docker save`` archives: plain tars), runs
``skopeo copy --dest-compress docker-archive:… oci-archive:…`` (gzip at its default level, as
a push compresses), then feeds each layer's tar to ``lib/estimate.GzipEstimate`` as an ingest
does, and prints per layer the tar size, skopeo's gzip size, the estimate, the error and the
estimator's CPU time. The target is within 15% of skopeo's size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import real_images  # beside this script

from layerviz.lib.estimate import GzipEstimate


def _member(archive: tarfile.TarFile, name: str) -> bytes:
    f = archive.extractfile(name)
    assert f is not None, name
    return f.read()


def run(name: str) -> None:
    path = real_images.saved(name)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "oci.tar"
        subprocess.run(
            ["skopeo", "copy", "-q", "--dest-compress", f"docker-archive:{path}", f"oci-archive:{out}"],
            check=True,
        )  # fmt: skip
        with tarfile.open(out) as oci:
            index = json.loads(_member(oci, "index.json"))
            digest = index["manifests"][0]["digest"].partition(":")[2]
            manifest = json.loads(_member(oci, f"blobs/sha256/{digest}"))
            real = [layer["size"] for layer in manifest["layers"]]
    with tarfile.open(path) as saved:
        layers = json.loads(_member(saved, "manifest.json"))[0]["Layers"]
        total_est = total_real = 0
        for member, size in zip(layers, real, strict=True):
            f = saved.extractfile(member)
            assert f is not None
            estimate, seconds, tar_bytes = GzipEstimate(), 0.0, 0
            while chunk := f.read(1 << 20):
                started = time.perf_counter()
                estimate.update(chunk)
                seconds += time.perf_counter() - started
                tar_bytes += len(chunk)
            got = estimate.bytes
            total_est, total_real = total_est + got, total_real + size
            print(
                f"{name:8} {tar_bytes / 1e6:9.1f} MB tar  skopeo {size / 1e6:9.3f} MB  "
                f"estimate {got / 1e6:9.3f} MB  {100 * (got - size) / max(size, 1):+5.1f}%  "
                f"{seconds * 1000:6.0f} ms"
            )
        print(f"{name:8} whole image: {100 * (total_est - total_real) / total_real:+.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("images", nargs="*", default=["python", "node"])
    for name in parser.parse_args().images:
        run(name)


if __name__ == "__main__":
    main()
