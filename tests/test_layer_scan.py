"""Reading one layer blob (``layerviz.lib.layer.scan_layer``): digests, compression sniffed
from the bytes, caps, and errors that name the problem."""

from __future__ import annotations

import gzip
import hashlib
import io

import pytest

from layerviz.lib import layer, synth, tarwriter
from layerviz.lib.errors import DigestMismatch, FormatError, LimitExceeded, Unsupported
from layerviz.lib.layer import EntryRecord, LayerScan, scan_layer
from layerviz.lib.limits import Limits

from . import builder

SAMPLE = synth.layer(
    [
        tarwriter.file("etc/os-release", b"ID=synth\n"),
        tarwriter.file("usr/bin/tool", b"\x7fELF" + b"\x00" * 5000, mode=0o755),
        tarwriter.symlink("usr/bin/alias", "tool"),
        tarwriter.hardlink("usr/bin/same", "usr/bin/tool"),
    ]
)


def scan(
    blob: bytes, *, digest: str | None = "auto", size: int | None = -1, **kwargs: object
) -> tuple[LayerScan, list[EntryRecord]]:
    """Scan ``blob`` with its true digest and size unless told otherwise."""
    records: list[EntryRecord] = []
    result = scan_layer(
        io.BytesIO(blob),
        digest=synth.sha256(blob) if digest == "auto" else digest,
        size=len(blob) if size == -1 else size,
        on_entries=lambda batch: records.extend(batch.records()),
        **kwargs,  # type: ignore[arg-type]
    )
    return result, records


def test_an_uncompressed_layer_is_its_own_diff_id():
    result, records = scan(SAMPLE)
    assert result.compression == "none"
    assert result.blob_digest == result.diff_id == synth.sha256(SAMPLE)
    assert (result.blob_size, result.tar_bytes) == (len(SAMPLE), len(SAMPLE))
    assert result.entries == len(records) == 7
    assert result.flags == []


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_compression_is_sniffed_from_the_bytes_and_the_diff_id_is_of_the_tar(kind):
    blob = tarwriter.compress(SAMPLE, kind)
    result, records = scan(blob)
    assert result.compression == kind
    assert result.blob_digest == synth.sha256(blob)
    assert result.diff_id == synth.sha256(SAMPLE)
    assert result.tar_bytes == len(SAMPLE)
    assert [r.path for r in records] == [r.path for r in scan(SAMPLE)[1]]


def test_every_regular_file_gets_the_sha256_of_its_content():
    _, records = scan(SAMPLE)
    by_path = {r.path: r for r in records}
    assert by_path[b"etc/os-release"].sha256 == hashlib.sha256(b"ID=synth\n").hexdigest()
    assert by_path[b"usr/bin/alias"].sha256 == ""  # links have no content of their own
    assert by_path[b"usr/bin/same"].link == b"usr/bin/tool"


def test_the_layer_size_is_the_sum_of_entry_sizes_as_dive_counts_it():
    result, records = scan(SAMPLE)
    assert result.size == 9 + 5004 == sum(r.size for r in records)


def test_it_reads_every_member_of_a_multi_member_gzip():
    blob = builder.multi_member_gzip(SAMPLE, members=4)
    result, records = scan(blob)
    assert result.compression == "gzip"
    assert result.diff_id == synth.sha256(SAMPLE)
    assert len(records) == 7


def test_it_reads_multi_frame_zstd_with_skippable_frames():
    blob = builder.zstd_multi_frame(SAMPLE, frames=3)
    assert blob[:4] == b"\x50\x2a\x4d\x18"  # starts with a skippable frame, not zstd magic
    result, records = scan(blob)
    assert result.compression == "zstd"
    assert result.diff_id == synth.sha256(SAMPLE)
    assert len(records) == 7


def test_it_reads_a_gzip_header_with_every_optional_field():
    blob = builder.gzip_with_every_header_field(SAMPLE)
    assert gzip.decompress(blob) == SAMPLE  # Python's own reader agrees it is valid
    result, records = scan(blob)
    assert result.diff_id == synth.sha256(SAMPLE)
    assert len(records) == 7


def test_it_rejects_a_gzip_header_whose_crc_does_not_match():
    with pytest.raises(FormatError, match="Corrupted gzip header at offset 0: its CRC does not"):
        scan(builder.gzip_with_every_header_field(SAMPLE, header_crc=0x1234))


def test_it_rejects_a_gzip_layer_whose_trailer_is_cut_off():
    with pytest.raises(FormatError, match="corrupt compressed data"):
        scan(builder.gzip_cut_trailer(SAMPLE))


def test_it_rejects_a_gzip_layer_with_a_bad_crc():
    with pytest.raises(FormatError, match="corrupt compressed data: CRC check failed"):
        scan(builder.gzip_bad_crc(SAMPLE))


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_it_rejects_garbage_after_the_compressed_stream(kind):
    with pytest.raises(FormatError, match="corrupt compressed data"):
        scan(tarwriter.compress(SAMPLE, kind) + b"\x00garbage")


@pytest.mark.parametrize("zeros", [1, 4096, 2 * builder.MiB + 3])
def test_zero_padding_after_a_gzip_stream_is_read_past_and_flags_the_layer(zeros):
    # GNU gzip accepts it (with a warning); the blob digest covers the padding anyway.
    result, records = scan(gzip.compress(SAMPLE) + bytes(zeros))
    assert [r.path for r in records][-1] == b"usr/bin/same"
    assert result.diff_id == synth.sha256(SAMPLE)
    assert result.flags == [layer.GZIP_PADDING]


def test_a_gzip_stream_without_padding_is_not_flagged():
    result, _ = scan(gzip.compress(SAMPLE))
    assert layer.GZIP_PADDING not in result.flags


@pytest.mark.parametrize(
    ("tail", "skip", "message"),
    [
        (b"garbage", 0, "data that is not a gzip member after the end of the gzip stream"),
        (bytes(10) + b"xx", 10, "10 zero bytes and then data that is not a gzip member"),
        (b"\x1f", 0, "data that is not a gzip member"),
    ],
)
def test_garbage_after_a_gzip_stream_is_an_error_that_names_it_and_where_it_is(tail, skip, message):
    # gzip -t refuses it too: it is neither a member nor padding.
    blob = gzip.compress(SAMPLE)
    with pytest.raises(FormatError, match=message) as caught:
        scan(blob + tail)
    shown = " ".join(f"{b:02x}" for b in tail[skip:])
    assert f"(at offset {len(blob) + skip}: {shown})" in str(caught.value)


@pytest.mark.parametrize(
    ("tail", "message"),
    [
        (bytes(16), r"16 zero bytes after the end of the zstd stream .*allows no padding"),
        (b"garbage!", r"data that is not a zstd frame after the end of the zstd stream"),
    ],
)
def test_anything_but_frames_after_a_zstd_stream_is_an_error_that_names_it(tail, message):
    # zstd -t refuses both; a skippable frame is a frame, and is read past.
    with pytest.raises(FormatError, match=message):
        scan(tarwriter.compress(SAMPLE, "zstd") + tail)


def test_a_skippable_frame_after_a_zstd_stream_is_read_past_unflagged():
    result, _ = scan(tarwriter.compress(SAMPLE, "zstd") + builder.skippable_frame(b"x" * 100))
    assert result.diff_id == synth.sha256(SAMPLE)
    assert result.flags == []


def test_it_rejects_a_layer_whose_digest_does_not_match():
    with pytest.raises(DigestMismatch, match=r"hashes to sha256:.*, not to sha256:0000"):
        scan(SAMPLE, digest="sha256:" + "0" * 64)


def test_it_rejects_a_blob_longer_than_its_descriptor_says():
    with pytest.raises(DigestMismatch, match="larger than the 1024 bytes its descriptor gives"):
        scan(SAMPLE, size=1024)


def test_it_says_a_blob_shorter_than_its_descriptor_is_truncated():
    blob = tarwriter.compress(SAMPLE, "gzip")
    with pytest.raises(DigestMismatch, match="truncated"):
        scan(blob[:-20], digest=synth.sha256(blob), size=len(blob))


def test_a_flipped_byte_in_a_compressed_blob_is_reported_as_a_digest_mismatch():
    # Decompression fails first, but the real problem is that these are not the blob's bytes.
    blob = bytearray(tarwriter.compress(SAMPLE, "gzip"))
    digest = synth.sha256(bytes(blob))
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(DigestMismatch, match=rf"not to {digest}"):
        scan(bytes(blob), digest=digest, size=len(blob))


def test_it_checks_sha512_digests_too():
    digest = "sha512:" + hashlib.sha512(SAMPLE).hexdigest()
    result, _ = scan(SAMPLE, digest=digest)
    assert result.blob_digest == digest
    assert result.diff_id == synth.sha256(SAMPLE)


@pytest.mark.parametrize(
    ("blob", "name"), [(b"BZh91AY&SY" + bytes(100), "bzip2"), (b"\xfd7zXZ\x00" + bytes(100), "xz")]
)
def test_it_refuses_compressions_no_runtime_accepts(blob, name):
    with pytest.raises(Unsupported, match=f"{name}-compressed"):
        scan(blob)


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_a_decompression_bomb_stops_at_the_layer_cap(kind):
    blob = builder.bomb(4 * builder.MiB, kind)
    assert len(blob) < 64 * 1024
    with pytest.raises(LimitExceeded, match="expands past the 1048576-byte limit"):
        scan(blob, limits=Limits(layer_bytes=builder.MiB))


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_a_decompression_bomb_stops_at_the_expansion_ratio(kind):
    limits = Limits(expansion_ratio=50, ratio_floor_bytes=256 * 1024)
    with pytest.raises(LimitExceeded, match=r"expands more than 50 times.*decompression bomb"):
        scan(builder.bomb(4 * builder.MiB, kind), limits=limits)


def test_an_uncompressed_layer_has_no_ratio_to_exceed():
    limits = Limits(expansion_ratio=2, ratio_floor_bytes=0)
    result, _ = scan(builder.zeros_layer(100_000), limits=limits)
    assert result.entries == 1


def test_a_pax_header_bomb_inside_gzip_is_refused_at_the_header():
    blob = tarwriter.compress(builder.pax_header_bomb(2 * builder.MiB), "gzip")
    with pytest.raises(LimitExceeded, match="extended tar header of 2097152 bytes"):
        scan(blob)


def test_a_huge_sparse_file_is_listed_with_its_apparent_size_and_flagged():
    result, records = scan(builder.gnu_sparse(apparent=10 * builder.GiB))
    sparse = records[0]
    assert (sparse.size, sparse.sha256) == (10 * builder.GiB, "")  # holes are not hashed
    assert sparse.flags & layer.SPARSE
    assert result.size == 10 * builder.GiB + 1
    assert result.tar_bytes < 10_000
    assert layer.FLAG_CODES[layer.SPARSE] in result.flags


def test_apparent_sizes_beyond_what_an_image_can_sum_in_64_bits_are_refused():
    # Two sparse files of 2**54 bytes: fine alone, but over 256 layers that could overflow.
    huge = builder.gnu_sparse(apparent=2**54)[: -2 * 512]
    with pytest.raises(LimitExceeded, match=r"entries claim more than \d+ bytes in one layer"):
        scan(builder.tar_of(huge, huge))
    result, _ = scan(builder.tar_of(huge))
    assert result.size == 2**54 + 1


def test_it_caps_entries_per_layer():
    blob = synth.layer([tarwriter.file(f"f{i}") for i in range(6)])
    with pytest.raises(LimitExceeded, match="more than 5 entries in one layer"):
        scan(blob, limits=Limits(entries_per_layer=5))


def test_it_caps_path_depth():
    blob = builder.names_layer(b"/".join([b"d"] * 10))
    with pytest.raises(LimitExceeded, match="deeper than 5 components"):
        scan(blob, limits=Limits(path_depth=5))


def test_a_4096_byte_path_is_read_and_a_4097_byte_path_is_refused():
    _, records = scan(builder.names_layer(builder.long_path(4096)))
    assert len(records[0].path) == 4096
    with pytest.raises(LimitExceeded, match="entry name of 4097 bytes"):
        scan(builder.names_layer(builder.long_path(4097)))


@pytest.mark.parametrize("name", [b"etc/.wh.", b"etc/.wh..", b"etc/.wh..."])
def test_it_rejects_a_whiteout_that_names_no_file_or_escapes_its_directory(name):
    with pytest.raises(FormatError, match="invalid whiteout name"):
        scan(builder.names_layer(name))


def test_whiteouts_opaque_markers_and_aufs_metadata_are_told_apart():
    _, records = scan(
        builder.names_layer(
            b"etc/.wh.motd", b"var/.wh..wh..opq", b".wh..wh.plnk/123.456", b".wh..wh.aufs"
        )
    )
    flags = {r.path: r.flags for r in records}
    assert flags[b"etc/.wh.motd"] == layer.WHITEOUT
    assert flags[b"var/.wh..wh..opq"] == layer.OPAQUE
    assert flags[b".wh..wh.plnk/123.456"] == layer.AUFS_META
    assert flags[b".wh..wh.aufs"] == layer.AUFS_META


def test_absolute_and_climbing_names_are_cleaned_like_containerd_and_flagged():
    result, records = scan(builder.names_layer(b"/abs/file", b"../../etc/passwd", b"./a/./b/../c"))
    assert [(r.path, r.raw, r.flags) for r in records] == [
        (b"abs/file", b"/abs/file", layer.ABSOLUTE),
        (b"etc/passwd", b"../../etc/passwd", layer.CLAMPED),
        (b"a/c", b"./a/./b/../c", 0),
    ]
    assert layer.FLAG_CODES[layer.ABSOLUTE] in result.flags
    assert layer.FLAG_CODES[layer.CLAMPED] in result.flags


def test_the_archive_root_entry_is_not_recorded():
    result, records = scan(
        synth.layer([tarwriter.directory("./"), tarwriter.file("./a", b"1")], parents=False)
    )
    assert [r.path for r in records] == [b"a"]
    assert result.flags == []


@pytest.mark.parametrize(
    ("name", "also"),
    [
        (b"..", layer.CLAMPED),
        (b"x/..", 0),
        (b"/", layer.ABSOLUTE),
        (b"a/../..", layer.CLAMPED),
        (b"/./..", layer.ABSOLUTE | layer.CLAMPED),
    ],
)
def test_a_name_that_cleans_to_the_root_is_not_recorded_but_flags_the_layer(name, also):
    result, records = scan(
        builder.tar_of(builder.raw(name, type="5"), tarwriter.encode(tarwriter.file("a", b"1")))
    )
    assert [r.path for r in records] == [b"a"]
    expected = {layer.FLAG_CODES[layer.ROOT_NAME]}
    expected |= {code for bit, code in layer.FLAG_CODES.items() if also & bit}
    assert set(result.flags) == expected


def test_a_path_given_twice_is_flagged_on_the_later_entry():
    result, records = scan(builder.duplicate_paths_layer())
    dups = [(r.path, bool(r.flags & layer.DUPLICATE)) for r in records]
    assert dups == [(b"dup", False), (b"dup", True), (b"d", False), (b"d", True)]
    assert layer.FLAG_CODES[layer.DUPLICATE] in result.flags


def test_device_nodes_are_flagged():
    result, records = scan(synth.layer([tarwriter.device("dev/sda", "block", 8, 0)]))
    assert records[-1].flags & layer.DEVICE
    assert layer.FLAG_CODES[layer.DEVICE] in result.flags


def test_xattrs_are_kept_as_hex():
    blob = synth.layer(
        [tarwriter.file("bin/ping", b"", xattrs={"security.capability": b"\x01\xff"})]
    )
    _, records = scan(blob)
    assert records[-1].xattrs == {"security.capability": "01ff"}


def test_non_utf8_names_stay_bytes():
    _, records = scan(builder.non_utf8_layer())
    paths = {r.path for r in records}
    assert builder.NON_UTF8 in paths
    assert records[-1].link == builder.NON_UTF8


def test_a_tar_without_an_end_marker_is_read_and_flagged():
    result, records = scan(builder.truncated_at_header_boundary())
    assert [r.path for r in records] == [b"f0", b"f1"]
    assert layer.NO_END_MARKER in result.flags


def test_a_tar_cut_mid_data_is_an_error_naming_the_offset():
    with pytest.raises(FormatError, match="ends in the middle of entry data at offset"):
        scan(builder.truncated_mid_data())


def test_a_bad_pax_mtime_is_an_ingest_error_not_a_crash():
    with pytest.raises(FormatError, match="invalid numeric PAX record b'1e400'"):
        scan(builder.with_pax_record("mtime", b"1e400"))


def test_entries_are_handed_over_in_batches():
    batches: list[int] = []
    blob = synth.layer([tarwriter.file(f"f{i}") for i in range(7)], parents=False)
    scan_layer(
        io.BytesIO(blob),
        digest=None,
        size=None,
        on_entries=lambda b: batches.append(len(b)),
        batch=3,
    )
    assert batches == [3, 3, 1]


def test_on_read_counts_the_blob_bytes():
    blob = tarwriter.compress(SAMPLE, "gzip")
    counted: list[int] = []
    scan(blob, on_read=counted.append)
    assert sum(counted) == len(blob)


def _clean_by_the_book(raw: bytes) -> tuple[bytes, int]:
    """``names.clean`` without its fast path: split, drop "" and ".", resolve ".."."""
    from layerviz.lib import names

    flags = names.ABSOLUTE if raw.startswith(b"/") else 0
    parts: list[bytes] = []
    for part in raw.split(b"/"):
        if part in (b"", b"."):
            continue
        if part == b"..":
            if parts:
                parts.pop()
            else:
                flags |= names.CLAMPED
            continue
        parts.append(part)
    if not parts and raw not in (b".", b"./"):
        flags |= names.ROOT
    return b"/".join(parts), flags


def test_names_are_cleaned_the_same_on_the_fast_path_as_by_the_book():
    import itertools
    import random

    from layerviz.lib import names

    pieces = [b"", b".", b"..", b"a", b"b.c", b".x", b"..y", b"z..", b"...", b"\xe9"]
    rng = random.Random(9)
    cases = [b"/".join(combo) for n in (1, 2, 3) for combo in itertools.product(pieces, repeat=n)]
    cases += [b"/".join(rng.choices(pieces, k=rng.randint(1, 7))) for _ in range(5000)]
    for raw in cases:
        assert names.clean(raw) == _clean_by_the_book(raw), raw
