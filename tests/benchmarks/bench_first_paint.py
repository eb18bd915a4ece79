"""Time to first paint of the chart pages (image, store, compare) in a fresh Chromium.

Each page is loaded by Debian's Chromium with an empty cache, from the demo images served as
``dev.py start`` serves them.

    .venv/bin/python tests/benchmarks/bench_first_paint.py [--runs 9] [--app DIR]

1. Prepares a new data directory under var/bench/ with the steps ``dev.py start`` runs before
   serving (``dev.PREPARE``: migrate, the demo images, collectstatic; not the lessons), then starts its web
   server (``dev.web_args``) on a free loopback port. dev.py's own set-up (the virtual
   environment) is left out: this interpreter runs the app. ``--app`` serves another checkout
   (an older commit, say) with the same steps and this interpreter.
2. Asks each page once, so that the server has imported and compiled what it needs: the
   figures are what a person opening the app sees after the first page, not Python starting.
3. For each page, ``--runs`` times: a new browser context (its own empty cache), the page
   loaded, and its navigation entry read (``performance.getEntriesByType('navigation')``):
   DOMContentLoaded is ``domContentLoadedEventEnd`` (the deferred scripts, plotly.js among
   them, have run), load is ``loadEventEnd`` (static/js/app.js has drawn the charts, on
   ``load``); both from the start of the navigation. Also the bytes of the page's plotly.js,
   on the wire and unpacked.

Prints the median of the runs in milliseconds. The target (#12) is 600 ms to DOMContentLoaded
on the image page.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import dev  # noqa: E402 - dev.py is the repository's, beside tests/
from tests.browser import chromium  # noqa: E402

BENCH = ROOT / "var" / "bench"

NAVIGATION = """() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const plotly = performance.getEntriesByType("resource").filter((r) => r.name.includes("plotly"));
    return {
        dcl: nav.domContentLoadedEventEnd,
        load: nav.loadEventEnd,
        wire: plotly.reduce((sum, r) => sum + r.transferSize, 0),
        unpacked: plotly.reduce((sum, r) => sum + r.decodedBodySize, 0),
        charts: document.querySelectorAll("[data-chart][data-drawn]").length,
    };
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--app", type=Path, default=ROOT, help="the checkout to serve")
    args = parser.parse_args()
    app = args.app.resolve()
    BENCH.mkdir(parents=True, exist_ok=True)
    env = dev.serve_env(dict(os.environ, LAYERVIZ_DATA_DIR=tempfile.mkdtemp(dir=BENCH)))
    env.pop("DATABASE_URL", None)
    env.pop("DEBUG", None)
    # The lesson images are left out: they change nothing on these pages but the store's
    # size, and would add their load (some seconds, a few hundred MB) to every run.
    for step in (step for step in dev.PREPARE if step != ("lessons",)):
        subprocess.run([sys.executable, "manage.py", *step], cwd=app, env=env, check=True)
    listed = subprocess.run(
        [sys.executable, "manage.py", "images", "--json"],
        cwd=app,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    # The demo images with the most layers: the most bars, boxes and differences to draw.
    images = sorted(json.loads(listed.stdout), key=lambda image: -len(image["layers"]))
    digests = [image["digest"] for image in images]
    port = _free_port()
    web = subprocess.Popen(
        [sys.executable, *dev.web_args(str(port))],
        cwd=app,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    pages = {
        "image page": f"/images/{digests[0]}/",
        "store page": "/store",
        "compare page": f"/compare?a={digests[0]}&b={digests[1]}",
    }
    try:
        _wait_for(base + "/")
        for url in pages.values():
            _wait_for(base + url)
        print(f"{app} on {base}, {len(digests)} demo images, median of {args.runs} fresh contexts")
        print(
            f"{'page':<14}{'DCL ms':>8}{'load ms':>9}{'plotly.js on the wire':>23}{'unpacked':>10}"
        )
        with chromium() as browser:
            for label, url in pages.items():
                runs = []
                for _ in range(args.runs):
                    context = browser.new_context(
                        base_url=base, viewport={"width": 1280, "height": 900}
                    )
                    page = context.new_page()
                    page.goto(url, wait_until="load")
                    runs.append(page.evaluate(NAVIGATION))
                    context.close()
                if not all(run["charts"] for run in runs):
                    raise SystemExit(f"the {label} drew no chart")
                dcl = statistics.median(run["dcl"] for run in runs)
                load = statistics.median(run["load"] for run in runs)
                wire, unpacked = runs[-1]["wire"], runs[-1]["unpacked"]
                print(
                    f"{label:<14}{dcl:>8.0f}{load:>9.0f}{wire / 1000:>20.0f} kB{unpacked / 1000:>7.0f} kB",
                    flush=True,
                )
    finally:
        web.send_signal(signal.SIGINT)
        try:
            web.wait(timeout=15)
        except subprocess.TimeoutExpired:
            web.kill()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, timeout: float = 60) -> None:
    """Until ``url`` answers 200: the server is up, and has answered that page once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.2)


if __name__ == "__main__":
    main()
