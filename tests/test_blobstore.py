"""The kept blobs' store: names, and any range of a blob's tar read back, whatever its
compression (``lib/blobstore``)."""

from __future__ import annotations

import hashlib
import random

import pytest

from layerviz.lib.blobstore import BlobStore
from layerviz.lib.errors import FormatError
from layerviz.lib.tarwriter import compress

RANGES = [(0, 10), (2_499_990, 20), (3_000_000, 50), (4_000_000, 1_000_000), (5_999_900, 100)]


def _data() -> bytes:
    rng = random.Random(7)
    return rng.randbytes(3_000_000) + b"hello world " * 100_000 + rng.randbytes(1_800_000)


def _kept(tmp_path, blob: bytes) -> tuple[BlobStore, str]:
    store = BlobStore(tmp_path)
    temp = store.temp()
    temp.write_bytes(blob)
    digest = f"sha256:{hashlib.sha256(blob).hexdigest()}"
    store.commit(temp, digest)
    return store, digest


@pytest.mark.parametrize("kind", ["none", "gzip", "zstd"])
def test_any_range_of_a_kept_blob_reads_back_as_the_tar_held_it(tmp_path, kind):
    data = _data()
    store, digest = _kept(tmp_path, compress(data, kind))
    for offset, size in RANGES:
        assert b"".join(store.read_range(digest, kind, offset, size)) == data[offset:][:size]


def test_a_gzip_blob_of_several_members_and_padding_gets_a_seek_index_once(tmp_path):
    data = _data()
    blob = compress(data[:2_500_000], "gzip") + compress(data[2_500_000:], "gzip") + bytes(10)
    store, digest = _kept(tmp_path, blob)
    index = store.index_path(digest)
    assert not index.exists()
    for offset, size in RANGES:
        assert b"".join(store.read_range(digest, "gzip", offset, size)) == data[offset:][:size]
    built = index.stat().st_mtime_ns
    assert b"".join(store.read_range(digest, "gzip", 10, 5)) == data[10:15]
    assert index.stat().st_mtime_ns == built
    store.remove(digest)
    assert not index.exists() and not store.has(digest)


def test_a_range_past_the_end_of_a_kept_blob_is_a_format_error(tmp_path):
    store, digest = _kept(tmp_path, b"short")
    with pytest.raises(FormatError):
        b"".join(store.read_range(digest, "none", 2, 10))


def test_a_blob_that_is_not_kept_is_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        b"".join(BlobStore(tmp_path).read_range("sha256:" + "0" * 64, "none", 0, 1))
