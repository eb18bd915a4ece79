"""The strict tar walker (``layerviz.lib.tarwalk``): it must read what Go reads, and refuse
what Go refuses or reads differently from Python."""

from __future__ import annotations

import io
import tarfile

import pytest

from layerviz.lib import synth, tarwriter
from layerviz.lib.errors import FormatError, LimitExceeded
from layerviz.lib.limits import Limits
from layerviz.lib.tarwalk import CHUNK, DIR, REG, Header, TarReader, Truncated

from . import builder


def walk(data: bytes, **kwargs: object) -> list[Header]:
    reader = TarReader(io.BytesIO(data).read, **kwargs)  # type: ignore[arg-type]
    out = []
    while (header := reader.next()) is not None:
        out.append(header)
    return out


def names(data: bytes) -> list[bytes]:
    return [h.name for h in walk(data)]


def test_it_lists_names_types_sizes_and_modes_of_an_ordinary_layer():
    data = synth.layer(
        [
            tarwriter.file("etc/hosts", b"127.0.0.1 localhost\n", mode=0o600, uid=1000, gid=100),
            tarwriter.symlink("bin/sh", "busybox"),
            tarwriter.hardlink("bin/ls", "bin/sh"),
            tarwriter.device("dev/null", "char", 1, 3),
            tarwriter.fifo("run/pipe"),
        ]
    )
    headers = walk(data)
    assert [(h.name, h.type) for h in headers] == [
        (b"etc/", DIR),
        (b"etc/hosts", REG),
        (b"bin/", DIR),
        (b"bin/sh", "2"),
        (b"bin/ls", "1"),
        (b"dev/", DIR),
        (b"dev/null", "3"),
        (b"run/", DIR),
        (b"run/pipe", "6"),
    ]
    hosts = headers[1]
    assert (hosts.size, hosts.mode, hosts.uid, hosts.gid, hosts.mtime) == (
        20,
        0o600,
        1000,
        100,
        tarwriter.MTIME,
    )
    assert headers[3].linkname == b"busybox"
    assert headers[4].linkname == b"bin/sh"
    assert (headers[6].devmajor, headers[6].devminor) == (1, 3)


@pytest.mark.parametrize("fmt", ["pax", "gnu", "ustar"])
def test_it_agrees_with_tarfile_on_every_format_synth_writes(fmt):
    long_name = "deep/" * 30 + "file"  # 154 bytes: ustar needs the prefix field
    data = synth.layer(
        [
            tarwriter.file(long_name, b"x" * 700),
            tarwriter.file("small", b""),
            tarwriter.symlink("l", "small"),
        ],
        fmt=fmt,
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        expected = [(m.name.encode(), m.size, m.linkname.encode()) for m in tf]
    assert [(h.name.rstrip(b"/"), h.size, h.linkname) for h in walk(data)] == expected


def test_it_reads_gnu_long_names_long_links_and_base256_numbers():
    target = b"t" * 300
    data = synth.layer(
        [tarwriter.symlink(b"n" * 250, target), tarwriter.file("big-uid", b"1", uid=10**10)],
        fmt="gnu",
        parents=False,
    )
    link, big = walk(data)
    assert (link.name, link.linkname) == (b"n" * 250, target)
    assert big.uid == 10**10


def test_it_reads_pax_paths_numbers_and_xattrs():
    name = "ü/" + "x" * 120
    data = synth.layer(
        [tarwriter.file(name, b"1", uid=10**10, xattrs={"security.capability": b"\x01\x02"})],
        parents=False,
    )
    (header,) = walk(data)
    assert header.name == name.encode()
    assert header.uid == 10**10
    assert header.xattrs == {"security.capability": b"\x01\x02"}


def test_it_rejects_a_pax_path_and_a_gnu_long_name_that_disagree():
    with pytest.raises(FormatError, match="PAX path and the GNU long name disagree"):
        walk(builder.pax_path_and_gnu_long_name(b"from_pax", b"from_gnu_L"))


def test_it_accepts_a_pax_path_and_a_gnu_long_name_that_agree():
    assert names(builder.pax_path_and_gnu_long_name(b"same", b"same")) == [b"same"]


def test_it_rejects_two_pax_headers_in_a_row():
    with pytest.raises(FormatError, match="two PAX extended headers in a row"):
        walk(builder.two_pax_headers())


def test_it_rejects_two_gnu_long_names_in_a_row():
    data = builder.tar_of(
        tarwriter.gnu_long("L", b"one"), tarwriter.gnu_long("L", b"two"), builder.raw(b"x")
    )
    with pytest.raises(FormatError, match="two GNU long-name headers"):
        walk(data)


def test_it_honours_a_pax_size_override_like_go_and_reads_the_next_header_as_data():
    data, hidden = builder.pax_size_override()
    reader = TarReader(io.BytesIO(data).read)
    cover = reader.next()
    assert (cover.name, cover.size) == (b"cover", len(hidden))
    assert reader.read() == hidden
    assert reader.next().name == b"after"
    assert reader.next() is None


def test_a_pax_global_header_renames_and_resizes_nothing_as_in_go():
    data = builder.pax_global_header({"path": b"evil", "size": b"0", "uid": b"42"})
    assert [(h.name, h.size, h.uid) for h in walk(data)] == [(b"a", 1, 0), (b"b", 2, 0)]


def test_it_rejects_a_global_header_between_an_extended_header_and_its_entry():
    data = builder.tar_of(
        tarwriter.pax_header({"path": b"p"}),
        tarwriter.pax_header({"uid": b"1"}, name=b"g", kind="g"),
        builder.raw(b"x"),
    )
    with pytest.raises(FormatError, match="not followed by an entry"):
        walk(data)


def test_it_judges_a_trailing_slash_on_the_pax_name_so_no_entry_hides_behind_it():
    headers = walk(builder.pax_dir_hiding_an_entry())
    assert [(h.name, h.type, h.data_size) for h in headers] == [
        (b"evil/", DIR, 0),
        (b"hidden", REG, 8),
    ]


def test_it_rejects_a_single_zero_block_followed_by_data():
    with pytest.raises(FormatError, match="single zero block followed by more data"):
        walk(builder.single_zero_block())


def test_a_single_zero_block_at_the_very_end_is_a_clean_end_without_a_marker():
    reader = TarReader(io.BytesIO(builder.raw(b"a", b"1") + bytes(512)).read)
    assert reader.next().name == b"a"
    assert reader.next() is None
    assert reader.eof_marker is False


def test_it_rejects_a_garbage_header_instead_of_stopping_silently():
    with pytest.raises(FormatError, match=r"invalid checksum field .* at offset 1024"):
        walk(builder.garbage_header())


def test_it_rejects_a_header_whose_checksum_is_wrong():
    with pytest.raises(FormatError, match=r"invalid tar header at offset 0 \(checksum"):
        walk(builder.bad_checksum())


def test_it_rejects_a_numeric_field_that_is_not_octal():
    with pytest.raises(FormatError, match="invalid size field"):
        walk(builder.bad_octal())


def test_a_stream_cut_at_a_header_boundary_ends_cleanly_without_an_end_marker():
    reader = TarReader(io.BytesIO(builder.truncated_at_header_boundary()).read)
    assert [reader.next().name, reader.next().name, reader.next()] == [b"f0", b"f1", None]
    assert reader.eof_marker is False


def test_a_stream_cut_mid_data_raises_truncated_naming_the_offset():
    with pytest.raises(Truncated, match="in the middle of entry data at offset"):
        walk(builder.truncated_mid_data())


def test_a_stream_cut_mid_header_raises_truncated():
    with pytest.raises(Truncated, match="in the middle of a header"):
        walk(builder.truncated_mid_header())


def test_a_stream_ending_after_an_extended_header_raises_truncated():
    with pytest.raises(Truncated, match="after an extended header"):
        walk(tarwriter.pax_header({"path": b"p"}))


def test_it_refuses_a_pax_header_over_the_cap_before_reading_it():
    data = builder.pax_header_bomb(2 * 1024 * 1024)
    stream = io.BytesIO(data)
    with pytest.raises(LimitExceeded, match="extended tar header of 2097152 bytes"):
        TarReader(stream.read, chunk=4096).next()
    assert stream.tell() <= 4096


def test_a_pax_header_at_the_cap_is_read():
    limits = Limits(special_header_bytes=4096)
    data = builder.tar_of(tarwriter.pax_header({"comment": b"c" * 3000}), builder.raw(b"f"))
    assert [h.name for h in walk(data, limits=limits)] == [b"f"]
    with pytest.raises(LimitExceeded):
        walk(data, limits=Limits(special_header_bytes=1024))


def test_it_reports_the_apparent_size_of_an_old_gnu_sparse_file():
    sparse, after = walk(builder.gnu_sparse(apparent=10 * builder.GiB, stored=512))
    assert (sparse.name, sparse.type, sparse.sparse) == (b"sparse", REG, True)
    assert (sparse.size, sparse.data_size) == (10 * builder.GiB, 512)
    assert after.name == b"after"


def test_it_rejects_a_base256_number_beyond_int64_as_go_does():
    with pytest.raises(FormatError, match="realsize field out of range"):
        walk(builder.gnu_sparse(apparent=2**80))


def test_it_reports_the_real_name_and_size_of_a_pax_sparse_file():
    (header,) = walk(builder.pax_sparse(apparent=5 * builder.GiB))
    assert (header.name, header.size, header.sparse) == (b"real/name", 5 * builder.GiB, True)


@pytest.mark.parametrize("value", [b"1e400", b"1_0", b" 1", b"0x10", b"", b"99999999999999999999"])
def test_it_rejects_pax_numbers_that_go_would_refuse(value):
    with pytest.raises(FormatError, match="invalid numeric PAX record"):
        walk(builder.with_pax_record("mtime" if value == b"1e400" else "size", value))


def test_it_accepts_a_fractional_pax_mtime_and_drops_the_fraction_like_go():
    (header,) = walk(builder.with_pax_record("mtime", b"1700000000.987654321"))
    assert header.mtime == 1_700_000_000


@pytest.mark.parametrize("key", ["path", "linkpath"])
def test_it_rejects_a_nul_byte_in_a_pax_name_as_go_does(key):
    with pytest.raises(FormatError, match=f"NUL byte in the PAX {key} record"):
        walk(builder.with_pax_record(key, b"a\x00b"))


def test_it_rejects_a_malformed_pax_record():
    data = builder.tar_of(
        tarwriter.header(b"p", type="x", size=12) + tarwriter.pad(b"99 path=x\n\n\n"),
        builder.raw(b"f"),
    )
    with pytest.raises(FormatError, match="malformed PAX record"):
        walk(data)


def test_header_only_types_store_no_data_whatever_their_size_field_says():
    # Go ignores the size of links, directories, devices and FIFOs; so must we, or we desync.
    data = builder.tar_of(
        tarwriter.header(b"dir/", type=DIR, size=1024), builder.raw(b"next", b"n")
    )
    assert [(h.name, h.data_size) for h in walk(data)] == [(b"dir/", 0), (b"next", 1)]


def test_it_caps_the_length_of_names_and_link_targets():
    limits = Limits(path_bytes=50, link_bytes=10)
    with pytest.raises(LimitExceeded, match="entry name of 51 bytes"):
        walk(synth.layer([tarwriter.file("x" * 51)]), limits=limits)
    with pytest.raises(LimitExceeded, match="link target of 11 bytes"):
        walk(synth.layer([tarwriter.symlink("l", "t" * 11)]), limits=limits)


def test_data_can_be_read_fed_or_skipped_and_on_chunk_sees_every_byte():
    data = synth.layer(
        [tarwriter.file("a", b"A" * 3000), tarwriter.file("b", b"B" * 10), tarwriter.file("c")]
    )
    seen = []
    reader = TarReader(io.BytesIO(data).read, on_chunk=seen.append, chunk=700)
    assert reader.next().name == b"a"
    assert reader.read(5) == b"AAAAA"
    fed = []
    reader.feed(lambda view: fed.append(bytes(view)))
    assert b"".join(fed) == b"A" * 2995
    assert reader.next().name == b"b"  # its data is skipped unread
    assert reader.next().name == b"c"
    assert reader.next() is None
    assert reader.eof_marker is True
    assert reader.drain() == 0
    assert b"".join(seen) == data
    assert reader.consumed == len(data)


def test_drain_reads_whatever_follows_the_end_marker():
    data = synth.layer([tarwriter.file("a", b"1")]) + b"trailing"
    reader = TarReader(io.BytesIO(data).read)
    while reader.next() is not None:
        pass
    assert reader.drain() == len(b"trailing")


def test_with_seek_it_jumps_over_data_it_does_not_read():
    data = synth.layer([tarwriter.file("big", b"x" * CHUNK * 3), tarwriter.file("after", b"1")])
    stream = io.BytesIO(data)
    reads = []

    def read(n: int) -> bytes:
        chunk = stream.read(n)
        reads.append(len(chunk))
        return chunk

    reader = TarReader(read, chunk=4096, seek=lambda n: stream.seek(n, io.SEEK_CUR))
    assert [reader.next().name, reader.next().name, reader.next()] == [b"big", b"after", None]
    assert sum(reads) < 5 * 4096
