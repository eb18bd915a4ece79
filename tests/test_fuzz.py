"""Fuzzing the readers of untrusted bytes: the tar walker (``lib/tarwalk``), the layer reader
(``lib/layer.scan_layer``) and the archive and layout sources (``docker-archive:``,
``oci-archive:``, read in place or streamed when compressed, ``oci:`` directories, and a
stream of bytes).

Inputs start from valid generated tars and archives and are mutated: bytes flipped, cut short,
header fields overwritten (checksum fixed up or not), huge sizes, PAX records put in front,
bytes inserted. Whatever the input, the reader must

* raise nothing but our errors (``lib/errors.IngestError``),
* stay within a memory bound (measured with tracemalloc) under small ``Limits``,
* finish (a per-input alarm turns a hang into a failure).

The budget is the hypothesis profile of ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import signal
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layerviz.lib import synth, tarwriter
from layerviz.lib.errors import IngestError
from layerviz.lib.layer import scan_layer
from layerviz.lib.limits import Limits
from layerviz.lib.tarwalk import BLOCK, REG, TarReader
from layerviz.lib.tarwriter import directory, file, hardlink, opaque, symlink, whiteout
from layerviz.sources import SourceOptions, open_source
from layerviz.sources.files import SpoolFiles

from . import builder

KiB, MiB = 1024, 1024 * 1024
# Small caps, so that a mutation that makes a reader hold what it reads hits them quickly.
LIMITS = Limits(
    json_bytes=256 * KiB,
    special_header_bytes=64 * KiB,
    pax_records=1000,
    sparse_blocks=1000,
    entries_per_layer=10_000,
    paths_per_image=10_000,
    layer_bytes=16 * MiB,
    image_bytes=64 * MiB,
    expansion_ratio=200,
    ratio_floor_bytes=4 * MiB,
    outer_members=1000,
)
# What any reader may hold at once for inputs this small: a 1 MiB read of compressed bytes and
# what it expands to in one step, one special header, JSON documents. (Measured: a peak of
# 1.1 MiB over 1,000 inputs for each reader.)
MEMORY_BOUND = 8 * MiB
SECONDS = 10  # per input: a reader still busy after this is taken to hang


@contextlib.contextmanager
def bounded() -> Iterator[None]:
    """Fail if the body allocates more than ``MEMORY_BOUND`` at its peak or runs too long."""

    def hang(signum: int, frame: object) -> None:
        raise TimeoutError(f"still reading after {SECONDS} s")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.setitimer(signal.ITIMER_REAL, SECONDS)
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert peak < MEMORY_BOUND, f"peak of {peak} bytes"


def only_our_errors(run: Callable[[], object]) -> None:
    """Run ``run`` bounded; an ``IngestError`` is a fine answer to bad input, nothing else is."""
    with bounded(), contextlib.suppress(IngestError):
        run()


# --- seeds ------------------------------------------------------------------------------------

LONG = "d/" + "long-name-" * 12 + "end"
ENTRIES = [
    directory("etc"),
    file("etc/os-release", b"ID=fuzz\n"),
    file(LONG, b"long", xattrs={"security.capability": b"\x01\x02"}),
    symlink("etc/alias", "os-release"),
    symlink("l/" + "t" * 120, "x" * 150),
    hardlink("etc/same", "etc/os-release"),
    whiteout("gone"),
    opaque("etc"),
    file("big", b"b" * 3000, mode=0o755, uid=70000, mtime=2**34),
]
TARS = [
    synth.layer(ENTRIES, fmt="pax"),
    synth.layer([e for e in ENTRIES if not e.xattrs], fmt="gnu"),
    builder.gnu_sparse(apparent=10 * MiB),
    builder.pax_sparse(apparent=10 * MiB),
    builder.pax_path_and_gnu_long_name(b"pax/name", b"gnu/name"),
    builder.pax_global_header({"path": b"global"}),
    builder.single_zero_block(),
]
COMPRESSED = [
    *(tarwriter.compress(TARS[0], kind) for kind in ("gzip", "zstd")),
    builder.multi_member_gzip(TARS[1], members=3),
    builder.gzip_with_every_header_field(TARS[0]),
    tarwriter.compress(TARS[0], "gzip") + bytes(100),
    builder.zstd_multi_frame(TARS[0], frames=2),
]
LAYERS = [*TARS, *COMPRESSED]


def _image(compression: str = "none") -> synth.Image:
    return synth.Image(
        layers=[synth.layer(ENTRIES[:3]), synth.layer([file("app/x", b"x"), whiteout("etc")])],
        compression=compression,
        tags=["lv/fuzz:1"],
    )


def _archive(layout: str, compression: str = "none", oci: bool = False) -> bytes:
    image = _image("gzip" if layout == "containerd" else "none")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.tar"
        if oci:
            synth.write_oci_layout(path, [image], as_tar=True)
        else:
            synth.write_docker_archive(path, [image], layout=layout, compression=compression)
        return path.read_bytes()


# The files of an OCI layout directory (oci-layout, index.json, manifest, config, layers).
LAYOUT_FILES = synth.oci_entries([_image("gzip")])
ARCHIVES = {
    "docker-archive": [
        _archive("legacy"),
        _archive("docker25"),
        _archive("containerd"),
        _archive("docker25", compression="gzip"),
    ],
    "oci-archive": [_archive("", oci=True)],
}


# --- mutations --------------------------------------------------------------------------------

# Tar header fields: (offset, width).
FIELDS = {
    "name": (0, 100),
    "mode": (100, 8),
    "uid": (108, 8),
    "size": (124, 12),
    "mtime": (136, 12),
    "chksum": (148, 8),
    "typeflag": (156, 1),
    "linkname": (157, 100),
    "magic": (257, 8),
    "prefix": (345, 155),
    "sparse": (386, 24),
    "realsize": (483, 12),
}
VALUES = [
    b"",
    b"\x00" * 12,
    b"\xff" * 12,
    b"77777777777\x00",
    b"99999999999\x00",
    b"\x80" + b"\x00" * 3 + b"\xff" * 8,  # base-256, huge
    b"\xff" + b"\xff" * 11,  # base-256, negative
    b"-1\x00",
    b" 0000644 \x00",
    b"../../../etc/passwd",
    b"/",
    b"..",
    b".wh..wh..opq",
    b".wh.",
    b"\xc3\x28\xff",
    b"x" * 100,
    *(t.encode() for t in "0125678KLSgxAD"),
]
PAX_KEYS = [
    "path",
    "linkpath",
    "size",
    "mtime",
    "uid",
    "GNU.sparse.map",
    "GNU.sparse.size",
    "GNU.sparse.realsize",
    "GNU.sparse.major",
    "GNU.sparse.minor",
    "GNU.sparse.name",
    "GNU.sparse.numblocks",
    "GNU.sparse.offset",
    "SCHILY.xattr.user.x",
    "hdrcharset",
]
PAX_VALUES = [
    b"",
    b"0",
    b"-1",
    b"1e400",
    b"99999999999999999999999",
    b"0,1,2",
    b"1,0,999999999",
    b"../x",
    b"a\x00b",
    b"\xff\xfe",
    b"x" * 5000,
]


def _headers(data: bytes) -> list[int]:
    """Offsets of the blocks that look like tar headers (a ustar magic), else block 0."""
    found = [
        i for i in range(0, len(data) - BLOCK + 1, BLOCK) if data[i + 257 : i + 262] == b"ustar"
    ]
    return found or [0]


class Mutated(bytes):
    """Mutated bytes, shown in a failure report by how they were made, not byte by byte."""

    how: list[str]

    def __repr__(self) -> str:
        return f"<{len(self)} bytes: {'; '.join(self.how)}>"


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes], tar: bool = True) -> Mutated:
    """A seed with one to four mutations applied in turn."""
    seed = draw(st.sampled_from(range(len(seeds))))
    data = bytearray(seeds[seed])
    how = [f"seed {seed}"]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "field", "pax", "insert", "size"]))
        how.append(op)
        if not data:
            data = bytearray(b"\x00")
        if op == "flip":
            at = draw(st.integers(0, len(data) - 1))
            data[at] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del data[draw(st.integers(0, len(data))) :]
        elif op == "insert":
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.binary(min_size=1, max_size=600))
        elif tar and op == "field":
            block = draw(st.sampled_from(_headers(bytes(data))))
            start, width = FIELDS[draw(st.sampled_from(sorted(FIELDS)))]
            value = draw(st.sampled_from(VALUES))[:width].ljust(width, b"\x00")
            data[block + start : block + start + width] = value
            if draw(st.booleans()) and block + BLOCK <= len(data):
                data[block : block + BLOCK] = tarwriter.seal(data[block : block + BLOCK])
        elif tar and op == "pax":
            at = draw(st.sampled_from(_headers(bytes(data))))
            records = {
                draw(st.sampled_from(PAX_KEYS)): draw(st.sampled_from(PAX_VALUES))
                for _ in range(draw(st.integers(1, 3)))
            }
            data[at:at] = tarwriter.pax_header(records)
        elif tar and op == "size":
            block = draw(st.sampled_from(_headers(bytes(data))))
            if block + BLOCK <= len(data):
                size = draw(st.sampled_from([BLOCK * 3, 2**33, 2**63 - 1, 2**40 + 7]))
                data[block + 124 : block + 136] = tarwriter.number(size, 12, gnu=True)
                data[block : block + BLOCK] = tarwriter.seal(data[block : block + BLOCK])
    out = Mutated(data)
    out.how = how
    return out


# --- the readers ------------------------------------------------------------------------------


def walk(data: bytes) -> None:
    """What the layer reader and the archive files do with a tar: every header, every file's
    data read in pieces, the stream drained."""
    tar = TarReader(io.BytesIO(data).read, limits=LIMITS, chunk=4096)
    while (header := tar.next()) is not None:
        _ = (header.name, header.linkname, header.size, header.mode, header.xattrs)
        if header.type == REG:
            while tar.read(1000):
                pass
    tar.drain()


def scan(data: bytes) -> None:
    scan_layer(io.BytesIO(data), digest=None, size=None, limits=LIMITS)


def read_archive(transport: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.tar"
        path.write_bytes(data)
        read_source(f"{transport}:{path}")


def read_source(spec: str) -> None:
    """A source as ``images.ingest`` reads it: its images, then every layer's blob, checked
    against its descriptor; streamed once when it is a compressed archive."""
    options = SourceOptions(limits=LIMITS)
    with open_source(spec, options) as source:
        if source.streaming:
            images = source.stream(
                lambda name, size, reader: scan_layer(reader, digest=None, size=size, limits=LIMITS)
            )
        else:
            images = source.images()
        for image in images:
            for ref in image.layers:
                with contextlib.suppress(IngestError), source.open_layer(image, ref) as blob:
                    d = ref.descriptor
                    scan_layer(blob, digest=d.digest or None, size=d.size, limits=LIMITS)


def spool(data: bytes) -> None:
    """A stream of archive bytes (an upload, ``docker save`` from the engine)."""
    files = SpoolFiles(
        io.BytesIO(data).read,
        lambda name, size, reader: scan_layer(reader, digest=None, size=size, limits=LIMITS),
        LIMITS,
        "archive",
    )
    for name in list(files.kept):
        with files.open(name) as member:
            member.read()


@given(mutated(TARS))
def test_the_tar_walker_raises_only_our_errors_within_bounds(data):
    only_our_errors(lambda: walk(data))


@given(mutated(LAYERS))
def test_the_layer_reader_raises_only_our_errors_within_bounds(data):
    only_our_errors(lambda: scan(data))


@given(mutated(COMPRESSED, tar=False))
def test_the_layer_reader_survives_mutated_compressed_streams(data):
    only_our_errors(lambda: scan(data))


@pytest.mark.parametrize("transport", sorted(ARCHIVES))
@given(data=st.data())
def test_the_archive_sources_raise_only_our_errors_within_bounds(transport, data):
    archive = data.draw(mutated(ARCHIVES[transport]))
    only_our_errors(lambda: read_archive(transport, archive))


@given(data=st.data())
def test_an_oci_layout_directory_with_one_file_mutated_raises_only_our_errors(data):
    which = data.draw(st.sampled_from(range(len(LAYOUT_FILES))))
    mutant = data.draw(mutated([LAYOUT_FILES[which].data]))
    with tempfile.TemporaryDirectory() as tmp:
        entries = list(LAYOUT_FILES)
        entries[which] = dataclasses.replace(entries[which], data=mutant)
        root = synth.write_directory(Path(tmp) / "layout", entries)
        only_our_errors(lambda: read_source(f"oci:{root}"))


@given(mutated([ARCHIVES["docker-archive"][1], ARCHIVES["oci-archive"][0]]))
def test_a_stream_of_archive_bytes_raises_only_our_errors_within_bounds(data):
    only_our_errors(lambda: spool(data))
