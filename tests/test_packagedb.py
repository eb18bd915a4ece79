"""The package database parsers of ``lib/packagedb``, on databases written per each format's
documentation and, for rpm, by the real rpm (``tests/rpmdb.py``), and on broken ones."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from layerviz.lib import package_files, packagedb
from layerviz.lib.packagedb import Unreadable, purls, rpm

from . import components, rpmdb

STATUS = b"""Package: libc6
Status: install ok installed
Priority: optional
Installed-Size: 12345
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries
 Contains the standard libraries.
 .
 More text.

Package: less
Status: deinstall ok config-files
Architecture: amd64
Version: 590-2

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b2
Installed-Size: 7000
"""

APK = b"""C:Q1abc=
P:musl
V:1.2.4-r2
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
L:MIT
o:musl
F:lib
R:ld-musl-x86_64.so.1
R:libc.musl-x86_64.so.1

P:busybox
V:1.36.1-r5
A:x86_64
I:946176
L:GPL-2.0-only
F:bin
R:busybox
F:etc
R:securetty
"""


def read(ecosystem: str, unit: str, files: dict[str, bytes | None]) -> list[packagedb.Package]:
    return packagedb.read(ecosystem, unit, files)


def test_dpkg_status_lists_installed_packages_with_their_file_lists_and_sizes():
    files = {
        "var/lib/dpkg/status": STATUS,
        "var/lib/dpkg/info/libc6:amd64.list": b"/.\n/lib\n/lib/x86_64-linux-gnu/libc.so.6\n",
        "var/lib/dpkg/info/bash.list": b"/.\n/bin\n/bin/bash\n",
    }
    libc, bash = read("dpkg", "var/lib/dpkg/status", files)
    assert (libc.name, libc.version, libc.arch, libc.upstream) == (
        "libc6",
        "2.36-9+deb12u4",
        "amd64",
        "glibc",
    )
    assert libc.installed_size == 12345 * 1024
    assert libc.files == ("lib", "lib/x86_64-linux-gnu/libc.so.6")
    assert bash.files == ("bin", "bin/bash")


def test_a_package_left_with_only_its_config_files_is_not_installed():
    names = [p.name for p in read("dpkg", "var/lib/dpkg/status", {"var/lib/dpkg/status": STATUS})]
    assert "less" not in names


def test_distroless_status_d_gives_one_package_per_file_with_its_md5sums_as_files():
    unit = "var/lib/dpkg/status.d/tzdata"
    files = {
        unit: b"Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n",
        f"{unit}.md5sums": b"0123abcd  usr/share/zoneinfo/UTC\n",
    }
    assert packagedb.unit_of(f"{unit}.md5sums") == ("dpkg", unit)
    [tz] = read("dpkg", unit, files)
    assert (tz.name, tz.version, tz.files) == (
        "tzdata",
        "2024a-0+deb12u1",
        ("usr/share/zoneinfo/UTC",),
    )


def test_apk_installed_gives_packages_their_files_from_f_and_r_lines():
    musl, busybox = read("apk", "lib/apk/db/installed", {"lib/apk/db/installed": APK})
    assert (musl.name, musl.version, musl.arch, musl.installed_size, musl.license) == (
        "musl",
        "1.2.4-r2",
        "x86_64",
        622592,
        "MIT",
    )
    assert musl.files == ("lib", "lib/ld-musl-x86_64.so.1", "lib/libc.musl-x86_64.so.1")
    assert busybox.files == ("bin", "bin/busybox", "etc", "etc/securetty")
    assert purls.purl(musl, ("alpine", "3.19.1")) == (
        "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.1"
    )


def test_a_python_distribution_is_read_from_metadata_with_record_paths_under_its_site():
    site = "usr/lib/python3/dist-packages"
    unit = f"{site}/Six-1.17.0.dist-info"
    files = {
        f"{unit}/METADATA": b"Metadata-Version: 2.1\nName: six\nVersion: 1.17.0\nLicense: MIT\n\nLong text\n",
        f"{unit}/RECORD": b"six.py,sha256=abc,34549\nSix-1.17.0.dist-info/RECORD,,\n../../../bin/tool,,\n",
    }
    assert packagedb.unit_of(f"{unit}/RECORD") == ("python", unit)
    [six] = read("python", unit, files)
    assert (six.name, six.version, six.license, six.location) == ("six", "1.17.0", "MIT", site)
    assert six.files == (f"{site}/six.py", f"{unit}/RECORD", "usr/bin/tool")
    assert purls.purl(six) == "pkg:pypi/six@1.17.0"


def test_an_egg_info_file_or_directory_is_a_python_distribution():
    single = "usr/lib/python3/dist-packages/foo-1.0.egg-info"
    [foo] = read("python", single, {single: b"Metadata-Version: 1.1\nName: foo\nVersion: 1.0\n"})
    assert (foo.name, foo.version) == ("foo", "1.0")
    folder = "usr/lib/python3/dist-packages/Bar_Baz-2.0.egg-info"
    files = {
        f"{folder}/PKG-INFO": b"Name: Bar_Baz\nVersion: 2.0\n",
        f"{folder}/installed-files.txt": b"../bar_baz/__init__.py\nPKG-INFO\n",
    }
    [bar] = read("python", folder, files)
    assert bar.files == (
        "usr/lib/python3/dist-packages/bar_baz/__init__.py",
        f"{folder}/PKG-INFO",
    )
    assert bar.key[2] == "bar-baz"


def test_an_npm_package_json_gives_a_scoped_name_and_a_purl_with_its_namespace():
    unit = "app/node_modules/@types/ms"
    doc = {"name": "@types/ms", "version": "0.7.34", "license": "MIT"}
    [ms] = read("npm", unit, {f"{unit}/package.json": json.dumps(doc).encode()})
    assert (ms.name, ms.version, ms.location, ms.listed) == ("@types/ms", "0.7.34", unit, False)
    assert purls.purl(ms) == "pkg:npm/%40types/ms@0.7.34"


def test_the_capture_predicate_takes_os_release_and_every_database_the_parsers_read():
    for path in (
        "etc/os-release",
        "usr/lib/os-release",
        "var/lib/dpkg/status",
        "var/lib/dpkg/status.d/tzdata.md5sums",
        "lib/apk/db/installed",
        "var/lib/rpm/rpmdb.sqlite",
        "x/node_modules/@a/b/package.json",
    ):
        assert package_files.wanted(path.encode()), path
        assert path.endswith("os-release") or packagedb.unit_of(path) is not None
    assert not package_files.wanted(b"x/node_modules/a/lib/package.json")


@pytest.fixture(scope="module")
def rpm_database(tmp_path_factory) -> bytes:
    """A database written by the real rpm (Debian's rpm 4.18, ``tests/rpmdb.py``), as an image
    holds it: made by each run rather than kept in the repository."""
    components.need("rpm", rpmdb.problem())
    return rpmdb.make(tmp_path_factory.mktemp("rpm")).read_bytes()


def test_the_real_rpm_database_is_read_with_names_versions_sizes_and_files(rpm_database):
    data = rpm_database
    packages = read("rpm", "var/lib/rpm/rpmdb.sqlite", {"var/lib/rpm/rpmdb.sqlite": data})
    by_name = {p.name: p for p in packages}
    hello = by_name["lv-hello"]
    assert (hello.version, hello.arch, hello.license) == ("1.2-3", "noarch", "MIT")
    assert hello.files == ("usr/share/lv-hello/hello.txt",)
    assert hello.installed_size == len(b"hello from an rpm\n")
    assert by_name["lv-other"].epoch == "2"
    assert purls.purl(hello, ("fedora", "40")) == (
        "pkg:rpm/fedora/lv-hello@1.2-3?arch=noarch&distro=fedora-40"
    )


def _blob(entries: list[tuple[int, int, bytes, int]]) -> bytes:
    index, data = b"", b""
    for tag, kind, value, count in entries:
        index += struct.pack(">iiii", tag, kind, len(data), count)
        data += value
    return struct.pack(">ii", len(entries), len(data)) + index + data


def test_an_rpm_header_with_an_offset_outside_it_is_unreadable_not_a_crash():
    good = _blob([(rpm.NAME, rpm.STRING, b"x\0", 1), (rpm.VERSION, rpm.STRING, b"1\0", 1)])
    assert rpm.package(rpm.header(good), "db").name == "x"
    bad = bytearray(good)
    struct.pack_into(">i", bad, 8 + 8, 10_000)  # the first entry's offset
    with pytest.raises(Unreadable, match="outside"):
        rpm.header(bytes(bad))
    with pytest.raises(Unreadable):
        rpm.header(good[:12])


@pytest.mark.parametrize(
    ("ecosystem", "unit", "path", "data", "why"),
    [
        (
            "dpkg",
            "var/lib/dpkg/status",
            "var/lib/dpkg/status",
            b"Package: a\nnot a field\n",
            "line 2",
        ),
        ("dpkg", "var/lib/dpkg/status", "var/lib/dpkg/status", b"\x00\x01\x02garbage", "binary"),
        ("apk", "lib/apk/db/installed", "lib/apk/db/installed", b"P:a\nno colon here\n", "line 2"),
        (
            "rpm",
            "var/lib/rpm/rpmdb.sqlite",
            "var/lib/rpm/rpmdb.sqlite",
            b"not sqlite",
            "not an SQLite",
        ),
        ("npm", "node_modules/a", "node_modules/a/package.json", b"{not json", "not valid JSON"),
        ("npm", "node_modules/a", "node_modules/a/package.json", b"[" * 100_000, "not valid JSON"),
        ("npm", "node_modules/a", "node_modules/a/package.json", b'{"name": "a"}', "no version"),
        (
            "npm",
            "node_modules/a",
            "node_modules/a/package.json",
            b" " * (5 << 20) + b"{}",
            "more than",
        ),
        ("python", "s/a-1.dist-info", "s/a-1.dist-info/METADATA", b"Name: a\n", "no version"),
        ("dpkg", "var/lib/dpkg/status", "var/lib/dpkg/status", None, "too big"),
    ],
)
def test_a_broken_database_is_unreadable_with_a_reason(ecosystem, unit, path, data, why):
    with pytest.raises(Unreadable, match=why):
        read(ecosystem, unit, {path: data})


def test_an_sqlite_file_without_rpm_s_table_is_unreadable(tmp_path):
    db = sqlite3.connect(tmp_path / "x.sqlite")
    db.execute("CREATE TABLE other (x)")
    db.commit()
    db.close()
    data = (tmp_path / "x.sqlite").read_bytes()
    with pytest.raises(Unreadable, match="rpm's sqlite"):
        read("rpm", "var/lib/rpm/rpmdb.sqlite", {"var/lib/rpm/rpmdb.sqlite": data})


@given(st.sampled_from(["dpkg", "apk", "rpm", "npm", "python"]), st.binary(max_size=2000))
def test_any_bytes_give_packages_or_unreadable_and_nothing_else(ecosystem, data):
    units = {
        "dpkg": ("var/lib/dpkg/status", "var/lib/dpkg/status"),
        "apk": ("lib/apk/db/installed", "lib/apk/db/installed"),
        "rpm": ("var/lib/rpm/rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite"),
        "npm": ("node_modules/a", "node_modules/a/package.json"),
        "python": ("s/a-1.dist-info", "s/a-1.dist-info/METADATA"),
    }
    unit, path = units[ecosystem]
    for body in (data, rpm.SQLITE_MAGIC + data if ecosystem == "rpm" else data):
        with contextlib.suppress(Unreadable):
            read(ecosystem, unit, {path: body})


@given(st.binary(min_size=8, max_size=600))
def test_any_rpm_header_bytes_give_tags_or_unreadable(data):
    with contextlib.suppress(Unreadable):
        rpm.package(rpm.header(data), "db")
