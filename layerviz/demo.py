"""Demo images for a first look and for class: small, generated, and each one shows an idea.

* ``demo/base`` — a tiny base image;
* ``demo/webapp:1.0`` — an app on that base with the classic mistakes: a package cache left in
  a layer, a file deleted one step after it was added, a chmod that copies a file again;
* ``demo/webapp:1.1`` — the next release: it shares the base and the dependency layer with 1.0
  and differs only at the top, so pulling it costs only the new layers;
* ``demo/rebuilt:1.0`` — the same files as 1.0 built on a *different* base layer: identical
  instructions, yet no layer is shared, because sharing follows the chain of parents;
* ``demo/opaque`` — a directory emptied and refilled, recorded by an opaque whiteout.

They are written with ``lib.synth`` (real archives, real digests) and ingested like any upload.
"""

from __future__ import annotations

import random
from pathlib import Path

from layerviz.lib import synth
from layerviz.lib.synth import Step
from layerviz.lib.tarwriter import directory, file, opaque, whiteout


def _blob(seed: int, size: int) -> bytes:
    # Mostly random bytes, so compressed sizes look like real binaries, with some text.
    rng = random.Random(seed)
    return rng.randbytes(size * 3 // 4) + b"x" * (size - size * 3 // 4)


def _base(variant: int = 0) -> bytes:
    return synth.layer(
        [
            directory("bin"),
            file("bin/sh", _blob(1 + variant, 900_000), mode=0o755),
            file("etc/os-release", b'NAME="Demo Linux"\nVERSION_ID="1"\n'),
            file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n"),
            file("usr/lib/libc.so.6", _blob(2, 1_400_000), mode=0o755),
            file("usr/lib/libssl.so.3", _blob(3, 600_000), mode=0o755),
            directory("tmp", mode=0o1777),
        ]
    )


def _deps() -> bytes:
    return synth.layer(
        [
            file("usr/lib/python3/site-packages/flask/__init__.py", _blob(10, 120_000)),
            file("usr/lib/python3/site-packages/jinja2/__init__.py", _blob(11, 300_000)),
            file("var/cache/apt/archives/python3_3.11_amd64.deb", _blob(12, 1_500_000)),
            file("var/lib/apt/lists/deb.debian.org_dists_bookworm_main", _blob(13, 700_000)),
        ]
    )


def _app(version: str) -> list[bytes]:
    return [
        synth.layer(
            [
                file("app/server.py", f"print('webapp {version}')\n".encode() * 50),
                file("app/static/logo.png", _blob(20, 80_000)),
                file("app/build/debug.log", _blob(21, 400_000)),
            ]
        ),
        synth.layer([whiteout("app/build/debug.log")]),
        synth.layer(
            [file("app/server.py", f"print('webapp {version}')\n".encode() * 50, mode=0o755)]
        ),
    ]


def _webapp(version: str, base: bytes, tags: list[str]) -> synth.Image:
    return synth.Image(
        layers=[base, _deps(), *_app(version)],
        history=[
            Step("ADD rootfs.tar / # buildkit"),
            Step("ENV PATH=/usr/local/bin:/usr/bin:/bin", empty_layer=True),
            Step("RUN /bin/sh -c apt-get update && apt-get install -y python3-flask # buildkit"),
            Step("WORKDIR /app", empty_layer=True),
            Step("COPY . /app # buildkit"),
            Step("RUN /bin/sh -c rm /app/build/debug.log # buildkit"),
            Step("RUN /bin/sh -c chmod +x /app/server.py # buildkit"),
            Step("EXPOSE map[8080/tcp:{}]", empty_layer=True),
            Step('CMD ["python3" "/app/server.py"]', empty_layer=True),
        ],
        cmd=["python3", "/app/server.py"],
        working_dir="/app",
        exposed_ports=["8080/tcp"],
        labels={
            "org.opencontainers.image.title": "webapp",
            "org.opencontainers.image.version": version,
        },
        tags=tags,
    )


def images() -> list[tuple[str, synth.Image, str]]:
    """(file name, image, docker-archive layout) for every demo image."""
    base = _base()
    opaque_image = synth.Image(
        layers=[
            base,
            synth.layer(
                [
                    file("srv/data/old-1.csv", _blob(30, 200_000)),
                    file("srv/data/old-2.csv", _blob(31, 200_000)),
                ]
            ),
            synth.layer(
                [
                    opaque("srv/data"),
                    directory("srv/data"),
                    file("srv/data/new.csv", _blob(32, 50_000)),
                ]
            ),
        ],
        history=[
            Step("ADD rootfs.tar /"),
            Step("COPY data/ /srv/data/"),
            Step(
                "RUN /bin/sh -c rm -rf /srv/data && mkdir /srv/data && cp /tmp/new.csv /srv/data/"
            ),
        ],
        tags=["demo/opaque:1.0"],
    )
    return [
        (
            "base.tar",
            synth.Image(layers=[base], history=[Step("ADD rootfs.tar /")], tags=["demo/base:1.0"]),
            "docker25",
        ),
        ("webapp-1.0.tar", _webapp("1.0", base, ["demo/webapp:1.0"]), "legacy"),
        (
            "webapp-1.1.tar",
            _webapp("1.1", base, ["demo/webapp:1.1", "demo/webapp:latest"]),
            "docker25",
        ),
        ("rebuilt-1.0.tar", _webapp("1.0", _base(variant=1), ["demo/rebuilt:1.0"]), "docker25"),
        ("opaque.tar", opaque_image, "legacy"),
    ]


def write_archives(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, image, layout in images():
        path = folder / name
        if not path.exists():
            synth.write_docker_archive(path, [image], layout=layout)
        out.append(path)
    return out
