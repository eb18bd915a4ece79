"""Hostile and edge-case inputs, built on ``layerviz.lib.synth`` (``image-format.md`` §5, §7).

``synth`` writes what well-behaved producers write. This module writes what they don't: tar
headers crafted byte by byte, streams cut or corrupted, compression bombs, layers whose names
or links are odd, and archives whose documents lie. Every function returns real bytes (or the
member list of a real archive), never a mock; tests feed them to the real readers.
"""

from __future__ import annotations

import dataclasses
import json
import struct
import zlib
from collections.abc import Callable

from layerviz.lib import synth, tarwriter
from layerviz.lib.synth import Image
from layerviz.lib.tarwalk import BLOCK
from layerviz.lib.tarwriter import (
    END_OF_ARCHIVE,
    Entry,
    directory,
    file,
    hardlink,
    header,
    opaque,
    pad,
    seal,
    symlink,
)

MiB = 1024 * 1024
GiB = 1024 * MiB


def raw(name: bytes, data: bytes = b"", **fields: object) -> bytes:
    """One ustar entry written exactly as given: no parent added, no name checked."""
    return header(name, size=len(data), **fields) + pad(data)  # type: ignore[arg-type]


def tar_of(*parts: bytes) -> bytes:
    """Raw pieces followed by the end-of-archive marker."""
    return b"".join(parts) + END_OF_ARCHIVE


# --- tar headers the parsers disagree on ----------------------------------------------------


def pax_path_and_gnu_long_name(pax_path: bytes, gnu_name: bytes) -> bytes:
    """A PAX ``path`` and a GNU ``L`` name for one entry: Python takes the PAX path, Go the L."""
    return tar_of(
        tarwriter.pax_header({"path": pax_path}),
        tarwriter.gnu_long("L", gnu_name),
        raw(b"ustar_name", b"data"),
    )


def two_pax_headers() -> bytes:
    """Two ``x`` headers before one entry: Go keeps the second, Python merges both."""
    return tar_of(
        tarwriter.pax_header({"path": b"first"}),
        tarwriter.pax_header({"path": b"second"}),
        raw(b"name", b"data"),
    )


def pax_size_override() -> tuple[bytes, bytes]:
    """A PAX ``size`` larger than the header's: the next entry's header becomes this one's data.

    Returns the tar and the swallowed entry (its header and data), which Go also reads as data.
    """
    hidden = raw(b"hidden", b"smuggled")
    return tar_of(
        tarwriter.pax_header({"size": b"%d" % len(hidden)}),
        header(b"cover", size=0),
        hidden,
        raw(b"after", b"x"),
    ), hidden


def pax_global_header(records: dict[str, bytes]) -> bytes:
    """A ``g`` header before two entries. Go returns it as an entry and applies it to nothing."""
    return tar_of(
        tarwriter.pax_header(records, name=b"pax_global_header", kind="g"),
        raw(b"a", b"1"),
        raw(b"b", b"22"),
    )


def pax_dir_hiding_an_entry() -> bytes:
    """A ``\\0``-typed entry whose PAX path ends in ``/`` and whose PAX size covers the next
    entry. Go makes it a directory (no data), so the next entry is unpacked: a reader that
    judged the raw ustar name would take it for a file and hide that entry."""
    hidden = raw(b"hidden", b"smuggled")
    return tar_of(
        tarwriter.pax_header({"path": b"evil/", "size": b"%d" % len(hidden)}),
        header(b"evil", type="\x00", size=0),
        hidden,
    )


def with_pax_record(key: str, value: bytes) -> bytes:
    """One entry named ``f`` with a single PAX record in front."""
    return tar_of(tarwriter.pax_header({key: value}), raw(b"f", b"1"))


def single_zero_block() -> bytes:
    """One zero block, then an entry: tarfile stops there, Go errors, the entry would hide."""
    return raw(b"visible", b"v") + bytes(BLOCK) + tar_of(raw(b"hidden", b"h"))


def garbage_header() -> bytes:
    """A valid entry, then a block of garbage where a header should be, then more entries."""
    return raw(b"first", b"1") + b"X" * BLOCK + tar_of(raw(b"hidden", b"h"))


def bad_checksum() -> bytes:
    block = bytearray(header(b"f"))
    block[148:156] = b"0000000\x00"
    return tar_of(bytes(block))


def bad_octal() -> bytes:
    block = bytearray(header(b"f"))
    block[124:136] = b"00000000009\x00"  # 9 is not an octal digit
    return tar_of(seal(block))


def four_files() -> bytes:
    return tar_of(*(raw(b"f%d" % i, b"a" * BLOCK) for i in range(4)))


def truncated_at_header_boundary() -> bytes:
    """Two whole entries and nothing else: no end marker. Go treats this as a clean end."""
    return four_files()[: 4 * BLOCK]


def truncated_mid_data() -> bytes:
    return four_files()[: 5 * BLOCK + 100]


def truncated_mid_header() -> bytes:
    return four_files()[: 4 * BLOCK + 100]


def pax_header_bomb(size: int = 2 * MiB) -> bytes:
    """A PAX header announcing (and holding) ``size`` bytes: Go refuses anything over 1 MiB;
    Python's tarfile reads it all into memory. Zeros, so it compresses to almost nothing."""
    return tar_of(header(b"PaxHeaders.0/f", type="x", size=size), pad(bytes(size)), raw(b"f"))


def gnu_sparse(apparent: int = 10 * GiB, stored: int = BLOCK) -> bytes:
    """An old GNU sparse (``S``) file: one ``stored``-byte extent at the end of ``apparent``
    bytes of holes, so a small tar lists a huge file."""
    block = bytearray(header(b"sparse", type="S", size=stored, gnu=True))
    block[386:398] = tarwriter.number(apparent - stored, 12, gnu=True)
    block[398:410] = tarwriter.number(stored, 12, gnu=True)
    block[483:495] = tarwriter.number(apparent, 12, gnu=True)
    return tar_of(seal(block) + pad(b"s" * stored), raw(b"after", b"a"))


def pax_sparse(apparent: int = 10 * GiB, stored: int = BLOCK) -> bytes:
    """A PAX 1.0 sparse file (what GNU tar --sparse --format=pax writes): the map is data."""
    sparse_map = pad(b"1\n%d\n%d\n" % (apparent - stored, stored))
    return tar_of(
        tarwriter.pax_header(
            {
                "GNU.sparse.major": b"1",
                "GNU.sparse.minor": b"0",
                "GNU.sparse.name": b"real/name",
                "GNU.sparse.realsize": b"%d" % apparent,
            }
        ),
        raw(b"GNUSparseFile.0/name", sparse_map + b"s" * stored),
    )


# --- compression ----------------------------------------------------------------------------


def multi_member_gzip(data: bytes, members: int = 3) -> bytes:
    """``cat a.gz b.gz c.gz`` of ``data`` cut in pieces, as eStargz layers are."""
    step = -(-len(data) // members)
    return b"".join(
        tarwriter.compress(data[i : i + step], "gzip") for i in range(0, len(data), step)
    )


def gzip_cut_trailer(data: bytes) -> bytes:
    """Deflate stream complete, but the CRC32 and size trailer are gone."""
    return tarwriter.compress(data, "gzip")[:-8]


def gzip_bad_crc(data: bytes) -> bytes:
    blob = bytearray(tarwriter.compress(data, "gzip"))
    blob[-8:-4] = struct.pack("<I", (struct.unpack("<I", blob[-8:-4])[0] ^ 0xFFFFFFFF))
    return bytes(blob)


def gzip_with_every_header_field(data: bytes, *, header_crc: int | None = None) -> bytes:
    """One gzip member whose header has an extra field, a file name (GNU gzip writes one), a
    comment and a header CRC (RFC 1952 §2.3), that CRC right unless ``header_crc`` is given."""
    head = b"\x1f\x8b\x08" + bytes([4 | 8 | 16 | 2]) + struct.pack("<I", 0) + b"\x00\x03"
    head += struct.pack("<H", 6) + b"AB\x02\x00xy" + b"layer.tar\x00" + b"a comment\x00"
    crc = zlib.crc32(head) & 0xFFFF if header_crc is None else header_crc
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = deflate.compress(data) + deflate.flush()
    return head + struct.pack("<H", crc) + body + struct.pack("<II", zlib.crc32(data), len(data))


def skippable_frame(payload: bytes = b"synth") -> bytes:
    return struct.pack("<II", 0x184D2A50, len(payload)) + payload


def zstd_multi_frame(data: bytes, frames: int = 3) -> bytes:
    """Several zstd frames with skippable frames around them (zstd:chunked writes these)."""
    step = -(-len(data) // frames)
    parts = [skippable_frame()]
    for i in range(0, len(data), step):
        parts += [tarwriter.compress(data[i : i + step], "zstd"), skippable_frame()]
    return b"".join(parts)


def zeros_layer(size: int) -> bytes:
    """One file of ``size`` zero bytes: the payload of a decompression bomb."""
    return synth.layer([file("zeros", bytes(size))])


def bomb(size: int, kind: str) -> bytes:
    """A ``kind``-compressed layer expanding to more than ``size`` bytes."""
    return tarwriter.compress(zeros_layer(size), kind)


# --- layer contents ---------------------------------------------------------------------------


def names_layer(*names: bytes) -> bytes:
    """Files with exactly these names (no parents added)."""
    return synth.layer([file(n, b"x") for n in names], parents=False)


def long_path(length: int) -> bytes:
    """A path of exactly ``length`` bytes, in components short enough for any filesystem."""
    path = b"/".join([b"d" * 200] * (length // 201 + 1))[:length]
    return path[:-1] + b"x"  # never ends in "/", which cleaning would drop


NON_UTF8 = b"caf\xe9/\xff\xfe-name.txt"


def non_utf8_layer() -> bytes:
    return synth.layer([file(NON_UTF8, b"latin-1"), symlink(b"link-\xe9", NON_UTF8)])


def hardlink_layers() -> list[bytes]:
    """Two layers with every kind of hardlink ``image-format.md`` §2.5 asks to flag."""
    lower = synth.layer([file("lower/data", b"lower bytes"), directory("lower/dir")])
    upper = synth.layer(
        [
            file("same/data", b"same layer bytes"),
            hardlink("same/link", "same/data"),
            hardlink("to-lower", "lower/data"),
            hardlink("dangling", "nowhere/at/all"),
            hardlink("forward", "later/data"),
            file("later/data", b"appears after its link"),
            hardlink("to-dir", "lower/dir"),
        ]
    )
    return [lower, upper]


def parent_symlink_layers() -> list[bytes]:
    """``etc -> /tmp`` below, then ``etc/passwd`` above: overlay makes ``etc`` a directory."""
    return [
        synth.layer([symlink("etc", "/tmp")]),
        synth.layer([file("etc/passwd", b"root:x:0:0\n")], parents=False),
    ]


def replacement_layers() -> list[bytes]:
    """A file becomes a directory and a directory (with children) becomes a file."""
    return [
        synth.layer([file("was-file", b"12345"), file("was-dir/child", b"abc")]),
        synth.layer([file("was-file/inside", b"now a dir"), file("was-dir", b"now a file")]),
    ]


def opaque_layers() -> list[bytes]:
    """Opaque markers before and after re-added siblings, and nested across three layers."""
    return [
        synth.layer(
            [
                file("a/old1", b"1"),
                file("a/old2", b"2"),
                file("b/old", b"3"),
                file("n/x/deep", b"4"),
                file("n/keep", b"5"),
            ]
        ),
        synth.layer(
            [
                opaque("a"),
                file("a/new", b"new a"),
                file("b/new", b"new b"),
                opaque("b"),  # after its sibling: still applied first
                opaque("n/x"),
                file("n/x/mid", b"6"),
            ]
        ),
        synth.layer([opaque("n"), file("n/x/top", b"7")]),
    ]


def duplicate_paths_layer() -> bytes:
    return synth.layer(
        [file("dup", b"first"), file("dup", b"second, longer"), directory("d"), directory("d")]
    )


# --- archives whose documents lie -----------------------------------------------------------


def replaced(entries: list[Entry], name: str, data: bytes) -> list[Entry]:
    """``entries`` with the member ``name`` holding ``data`` instead."""
    assert any(e.path == name.encode() for e in entries), name
    return [dataclasses.replace(e, data=data) if e.path == name.encode() else e for e in entries]


def without(entries: list[Entry], name: str) -> list[Entry]:
    assert any(e.path == name.encode() for e in entries), name
    return [e for e in entries if e.path != name.encode()]


def edited_json(entries: list[Entry], name: str, edit: Callable[[object], object]) -> list[Entry]:
    member = next(e for e in entries if e.path == name.encode())
    return replaced(entries, name, synth.dump(edit(json.loads(member.data))))


def manifest_pointing_outside(image: Image) -> list[Entry]:
    """A legacy save whose ``manifest.json`` names ``../x`` (and the archive holds ``../x``)."""

    def edit(doc: object) -> object:
        doc[0]["Layers"][0] = "../x"  # type: ignore[index]
        return doc

    entries = edited_json(synth.legacy_entries([image]), "manifest.json", edit)
    return [*entries, file("../x", image.layers[0])]


def duplicate_manifest(image: Image, other: Image) -> list[Entry]:
    """Two ``manifest.json`` members naming different images; tarfile would use the last."""
    first = synth.legacy_entries([image])
    second = synth.legacy_entries([other])
    extra = [e for e in second if e.path != b"manifest.json" and e not in first]
    manifest = next(e for e in second if e.path == b"manifest.json")
    return [*first, *extra, manifest]


def legacy_with_layer(image: Image, which: int, data: bytes) -> list[Entry]:
    """A legacy save whose ``layer.tar`` of layer ``which`` holds ``data`` instead."""
    entries = synth.legacy_entries([image])
    manifest = json.loads(next(e for e in entries if e.path == b"manifest.json").data)
    return replaced(entries, manifest[0]["Layers"][which], data)


def blob_not_matching_its_name(image: Image, old: bytes, new: bytes) -> list[Entry]:
    """A Docker 25 save whose top layer blob has file content ``old`` changed to ``new`` (same
    length, so the tar stays valid and only the digest tells)."""
    assert len(old) == len(new)
    blob = dataclasses.replace(image, compression="none").build().layers[-1]
    assert blob.data.count(old) == 1
    return replaced(synth.docker25_entries([image]), blob.path, blob.data.replace(old, new))


def config_not_matching_its_name(image: Image) -> list[Entry]:
    built = image.build()
    forged = built.config.data.replace(b'"os":"linux"', b'"os":"LINUX"')
    return replaced(synth.docker25_entries([image]), built.config.path, forged)


def missing_blob(image: Image, which: int) -> list[Entry]:
    """A Docker 25 save without the blob of layer ``which``."""
    built = dataclasses.replace(image, compression="none").build()
    return without(synth.docker25_entries([image]), built.layers[which].path)


def lying_diff_ids(image: Image, which: int) -> Image:
    """``image`` whose config gives layer ``which`` the diff_id of other content."""
    claimed = [synth.sha256(tar_bytes) for tar_bytes in image.layers]
    claimed[which] = synth.sha256(b"not this layer")
    return dataclasses.replace(image, diff_ids=claimed)


def fewer_diff_ids(image: Image) -> Image:
    claimed = [synth.sha256(tar_bytes) for tar_bytes in image.layers]
    return dataclasses.replace(image, diff_ids=claimed[:-1])


def layout_with(manifest: synth.Blob, blobs: list[synth.Blob], ref: str = "x:1") -> list[Entry]:
    """An OCI layout whose ``index.json`` lists exactly ``manifest``."""
    index = {
        "schemaVersion": 2,
        "mediaType": synth.oci.OCI_INDEX,
        "manifests": [manifest.descriptor(annotations={synth.oci.REF_NAME: ref})],
    }
    return [
        *(file(b.path, b.data) for b in [manifest, *blobs]),
        file("index.json", synth.dump(index)),
        file("oci-layout", synth.dump({"imageLayoutVersion": "1.0.0"})),
    ]


SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"


def schema1_layout() -> list[Entry]:
    """A layout listing a Docker schema 1 manifest (signed, ``fsLayers``, no config)."""
    layer = synth.Blob.of(tarwriter.compress(synth.layer([file("f", b"1")]), "gzip"), "")
    manifest = synth.Blob.of(
        synth.dump(
            {
                "schemaVersion": 1,
                "name": "library/old",
                "tag": "1",
                "architecture": "amd64",
                "fsLayers": [{"blobSum": layer.digest}],
                "history": [{"v1Compatibility": "{}"}],
                "signatures": [],
            }
        ),
        SCHEMA1,
    )
    return layout_with(manifest, [layer])


def schema1_declared_as_docker_v2() -> list[Entry]:
    """A schema 1 body behind a descriptor that claims a schema 2 manifest."""
    entries = schema1_layout()
    index = json.loads(next(e for e in entries if e.path == b"index.json").data)
    index["manifests"][0]["mediaType"] = synth.oci.DOCKER_MANIFEST
    return replaced(entries, "index.json", synth.dump(index))


def artifact_layout(config_type: str = "application/vnd.cncf.helm.config.v1+json") -> list[Entry]:
    """A Helm chart stored as an OCI artifact: a manifest whose config is not an image config."""
    config = synth.Blob.of(b'{"name":"chart","version":"1.0.0"}', config_type)
    chart = synth.Blob.of(
        tarwriter.compress(b"chart", "gzip"), "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    )
    return layout_with(synth.manifest(config, [chart]), [config, chart])


def layout_with_layer_blobs(image: Image, blobs: list[bytes], media_type: str) -> list[Entry]:
    """An OCI layout of ``image`` whose layers are stored as exactly ``blobs`` (a multi-member
    gzip, a corrupt stream, a bomb...): only the manifest vouches for them."""
    config = image.build().config
    layers = [synth.Blob.of(blob, media_type) for blob in blobs]
    return layout_with(synth.manifest(config, layers), [config, *layers])
