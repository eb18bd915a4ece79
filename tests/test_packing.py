"""Records packed column by column (``layerviz.lib.packing``), as the index stores entries and
changes: every kind of column survives the round trip, and a damaged blob is an error."""

from __future__ import annotations

import os
import random

import pytest

from layerviz.lib import packing, tarwalk
from layerviz.lib.packing import DIGEST, INT, JSON, NINT, TEXT, PackError, Schema

SCHEMA = Schema(
    (("name", TEXT), ("size", INT), ("seq", NINT), ("sha", DIGEST), ("x", JSON), ("t", TEXT))
)


def _columns(n: int, rng: random.Random) -> dict[str, list]:
    return {
        "name": [f"f{i}-é\\x00" for i in range(n)],
        "size": [rng.choice([0, 1, -5, 2**63 - 1, -(2**63)]) for _ in range(n)],
        "seq": [rng.choice([None, 0, 7, 2**40]) for _ in range(n)],
        "sha": [rng.choice([b"", os.urandom(32)]) for _ in range(n)],
        "x": [rng.choice([None, {"security.capability": "01ff"}, [1, "a"]]) for _ in range(n)],
        "t": [rng.choice(["", "0", "5"]) for _ in range(n)],
    }


@pytest.mark.parametrize("count", [0, 1, 3, 2000])
def test_every_kind_of_column_survives_the_round_trip(count):
    columns = _columns(count, random.Random(count))
    assert packing.unpack(SCHEMA, packing.pack(SCHEMA, columns)) == columns
    assert packing.count_of(packing.pack(SCHEMA, columns)) == count


def test_tiny_blobs_are_stored_small_ones_deflated_and_big_ones_zstd_compressed():
    tiny = packing.pack(SCHEMA, _columns(1, random.Random(1)))
    small = packing.pack(SCHEMA, {**_columns(100, random.Random(1)), "sha": [b""] * 100})
    big = packing.pack(SCHEMA, {**_columns(5000, random.Random(2)), "sha": [b""] * 5000})
    assert [tiny[1], small[1], big[1]] == [packing.NONE, packing.ZLIB, packing.ZSTD]
    assert len(big) < 5000 * 20
    assert packing.unpack(SCHEMA, small)["size"] == _columns(100, random.Random(1))["size"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: b"\x09" + blob[1:],  # a format from the future
        lambda blob: blob[:-7],  # cut short
        lambda blob: blob[:10] + bytes(len(blob) - 10),  # zeroed body
        lambda blob: b"",
    ],
)
def test_a_damaged_blob_is_an_error_not_garbage(damage):
    blob = packing.pack(SCHEMA, _columns(500, random.Random(3)))
    with pytest.raises(PackError):
        packing.unpack(SCHEMA, damage(blob))


def test_columns_of_different_lengths_are_refused():
    columns = _columns(3, random.Random(4))
    columns["size"] = columns["size"][:2]
    with pytest.raises(ValueError, match="column size has 2 values, not 3"):
        packing.pack(SCHEMA, columns)


def test_the_header_checksum_sum_is_the_plain_sum_of_the_bytes():
    rng = random.Random(5)
    for _ in range(300):
        block = bytes(rng.choice([0, 255, rng.randrange(256)]) for _ in range(512))
        assert tarwalk._byte_sum(block) == sum(block)
