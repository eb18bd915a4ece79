"""``docker://`` pulls with layers downloaded one at a time or side by side.

    .venv/bin/python tests/benchmarks/bench_registry_pull.py [--runs 3] [--layers 6]
        [--layer-mb 6] [--rate-mb 4] [--parallel 1 2 4]

A real registry (Debian's ``docker-registry``, as the tests start it) holds one generated image
of ``--layers`` gzip layers of random bytes, ``--layer-mb`` MB each (incompressible, so each
blob is that big). Each run ingests it with ``LAYERVIZ_REGISTRY_PARALLEL`` set to each value of
``--parallel``, into an emptied database, and prints the median wall time of ``ingest()``:

* ``direct``: from the registry itself over loopback, where nothing waits on the network and
  the figure is what downloading into files and reading them costs on this machine;
* ``far``: through ``tests/registries.TcpProxy`` limiting each connection to ``--rate-mb``
  MB/s and holding each blob request 50 ms, as a registry across the internet does (a TCP
  connection's rate is bounded by its window over the round trip, not by the line).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import django_setup  # beside this script

ROOT = django_setup.ROOT
MB = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--layer-mb", type=float, default=6)
    parser.add_argument("--rate-mb", type=float, default=4)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()

    django_setup.BENCH.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=django_setup.BENCH))
    os.environ.setdefault("LAYERVIZ_BLOB_ROOT", str(scratch / "blobs"))
    django_setup.fresh_database()
    from django.core.management import call_command

    from layerviz.images.ingest import ingest
    from layerviz.lib import synth
    from layerviz.lib.limits import Limits
    from layerviz.sources import SourceOptions
    from tests.registries import TcpProxy, start_registry

    registry = start_registry("bench", scratch / "registry")
    far = TcpProxy(registry.host)
    far.rate, far.blob_delay = int(args.rate_mb * MB), 0.05
    try:
        size = int(args.layer_mb * MB)
        layers = [
            synth.layer([synth.file(f"data/{n}.bin", random.Random(n).randbytes(size))])
            for n in range(args.layers)
        ]
        image = synth.Image(layers, tags=["1.0"], compression="gzip")
        archive = synth.write_oci_layout(scratch / "bench.tar", [image], as_tar=True)
        registry.push(f"oci-archive:{archive}:1.0", "lv/bench:1.0")
        total = sum(len(blob.data) for blob in image.build().layers) / MB
        print(
            f"{args.layers} layers, {total:.1f} MB of blobs; far: {args.rate_mb:g} MB/s a "
            f"connection, 50 ms a blob request; median of {args.runs} runs; "
            f"{os.cpu_count()} CPUs"
        )
        print(f"{'where':<8} {'parallel':>8} {'seconds':>8} {'MB/s':>7}")
        for where, host in (("direct", registry.host), ("far", far.host)):
            for parallel in args.parallel:
                times = []
                for _ in range(args.runs):
                    call_command("flush", interactive=False, verbosity=0)
                    options = SourceOptions(limits=Limits(registry_parallel=parallel))
                    start = time.perf_counter()
                    ingest(f"docker://{host}/lv/bench:1.0", options=options)
                    times.append(time.perf_counter() - start)
                median = statistics.median(times)
                print(f"{where:<8} {parallel:>8} {median:>8.2f} {total / median:>7.1f}", flush=True)
    finally:
        far.stop()
        registry.stop()


if __name__ == "__main__":
    main()
