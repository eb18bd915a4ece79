"""Packages per layer on generated images: which layer installed, upgraded and removed each
package (by the package manager or by a whiteout), the bytes still shipped, and the pages,
JSON, SBOM, command and compare that show them."""

from __future__ import annotations

import io
import json

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from django.core.management import call_command
from django.test import Client

from layerviz.images.models import Image
from layerviz.lib import synth
from layerviz.lib.tarwriter import file, opaque, whiteout
from layerviz.packages import scan
from layerviz.packages.models import ImagePackage, PackageScan

from .helpers import HTMX, ingest_image, soup

pytestmark = pytest.mark.django_db

SITE = "usr/lib/python3/dist-packages"
COPYRIGHT = b"Copyright: the OpenSSL authors\n" * 40


def status(*packages: tuple[str, str, int]) -> bytes:
    return b"\n".join(
        b"Package: %s\nStatus: install ok installed\nArchitecture: amd64\nVersion: %s\n"
        b"Installed-Size: %d\n" % (name.encode(), version.encode(), size)
        for name, version, size in packages
    )


def dist_info(name: str, version: str, module: bytes) -> list:
    info = f"{SITE}/{name}-{version}.dist-info"
    return [
        file(
            f"{info}/METADATA",
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        ),
        file(f"{info}/RECORD", f"{name}.py,,\n{name}-{version}.dist-info/METADATA,,\n".encode()),
        file(f"{SITE}/{name}.py", module),
    ]


def base_layer() -> bytes:
    return synth.layer(
        [
            file("usr/lib/os-release", b'ID=debian\nVERSION_ID="12"\n'),
            file(
                "var/lib/dpkg/status",
                status(("libssl3", "3.0.11-1", 6000), ("bash", "5.2-2", 7000)),
            ),
            file(
                "var/lib/dpkg/info/libssl3:amd64.list",
                b"/.\n/usr\n/usr/lib/libssl.so.3\n/usr/share/doc/libssl3/copyright\n",
            ),
            file("var/lib/dpkg/info/bash.list", b"/.\n/bin\n/bin/bash\n"),
            file("usr/lib/libssl.so.3", b"S" * 5000),
            file("usr/share/doc/libssl3/copyright", COPYRIGHT),
            file("bin/bash", b"B" * 3000),
            *dist_info("six", "1.16.0", b"# six 1.16\n" * 10),
            *dist_info("idna", "3.6", b"# idna\n" * 50),
        ]
    )


def layers() -> list[bytes]:
    upgrade = synth.layer(
        [
            file(
                "var/lib/dpkg/status",
                status(("libssl3", "3.0.13-1", 6100), ("bash", "5.2-2", 7000)),
            ),
            file("usr/lib/libssl.so.3", b"T" * 5100),
            whiteout(f"{SITE}/six-1.16.0.dist-info"),
            *dist_info("six", "1.17.0", b"# six 1.17\n" * 11),
        ]
    )
    remove = synth.layer(
        [
            # apt-get remove bash: the status rewritten, the files and the list deleted.
            file("var/lib/dpkg/status", status(("libssl3", "3.0.13-1", 6100))),
            whiteout("var/lib/dpkg/info/bash.list"),
            whiteout("bin/bash"),
            # pip uninstall by hand: the dist-info deleted, the module left behind.
            whiteout(f"{SITE}/idna-3.6.dist-info"),
        ]
    )
    hide = synth.layer(
        [
            # rm -rf /usr/share/doc: files of an installed package gone, its bytes shipped.
            opaque("usr/share/doc"),
            file(
                "app/node_modules/ms/package.json",
                json.dumps({"name": "ms", "version": "2.1.3"}).encode(),
            ),
            file("app/node_modules/ms/index.js", b"module.exports = 1;\n" * 20),
        ]
    )
    return [base_layer(), upgrade, remove, hide]


@pytest.fixture
def image(tmp_path) -> Image:
    return ingest_image(tmp_path, "lv/pkgs:1", layers())


def rows(image: Image, name: str) -> list[ImagePackage]:
    return list(image.packages.filter(normalized=name).order_by("layer"))


def test_an_upgrade_in_a_later_layer_ends_the_old_version_and_credits_the_new_to_that_layer(image):
    scan.scan(image)
    old, new = rows(image, "libssl3")
    assert (old.version, old.layer, old.gone_at, old.gone_how) == ("3.0.11-1", 0, 1, "upgraded")
    assert (new.version, new.layer, new.previous, new.gone_at) == ("3.0.13-1", 1, "3.0.11-1", None)
    assert new.installed_size == 6100 * 1024
    assert new.purl == "pkg:deb/debian/libssl3@3.0.13-1?arch=amd64&distro=debian-12"
    old_six, new_six = rows(image, "six")
    assert (old_six.version, old_six.gone_at, new_six.version, new_six.layer) == (
        "1.16.0",
        1,
        "1.17.0",
        1,
    )


def test_a_package_removed_by_its_manager_or_by_a_whiteout_of_its_dist_info_is_removed(image):
    scan.scan(image)
    [bash] = rows(image, "bash")
    assert (bash.layer, bash.gone_at, bash.gone_how) == (0, 2, "removed")
    assert (bash.files, bash.bytes, bash.hidden_bytes) == (1, 3000, 3000)
    [idna] = rows(image, "idna")
    assert (idna.gone_at, idna.gone_how) == (2, "removed")


def test_a_package_whose_files_a_later_layer_hid_is_flagged_with_the_bytes_still_shipped(image):
    scan.scan(image)
    new = rows(image, "libssl3")[1]
    assert new.files == 2
    assert new.bytes == 5100 + len(COPYRIGHT)
    assert new.hidden_bytes == len(COPYRIGHT)
    assert new.hidden_but_shipped
    assert [p.name for p in image.packages.all() if p.hidden_but_shipped] == ["libssl3"]


def test_npm_packages_own_the_files_of_their_directory(image):
    scan.scan(image)
    [ms] = rows(image, "ms")
    assert (ms.version, ms.layer, ms.files) == ("2.1.3", 3, 2)
    assert "app/node_modules/ms/index.js" in ms.paths()
    assert [p.name for p in scan.owners(image, "usr/lib/libssl.so.3")] == ["libssl3"]


def test_which_images_ship_a_version_is_one_query_on_name_and_version(image, tmp_path):
    scan.scan(image)
    other = ingest_image(tmp_path, "lv/pkgs-base:1", [base_layer()])
    scan.scan(other)
    shipping = ImagePackage.objects.of_version("libssl3", "3.0.13-1").shipped()
    assert set(shipping.values_list("image", flat=True)) == {image.pk}
    ever = ImagePackage.objects.of_version("libssl3", "3.0.11-1")
    assert set(ever.values_list("image", flat=True)) == {image.pk, other.pk}


def test_a_scan_is_stored_once_and_redone_when_its_version_is_old(
    image, django_assert_max_num_queries
):
    assert scan.scan_all() == 1
    assert scan.scan_all() == 0
    first = scan.scan(image)
    with django_assert_max_num_queries(1):
        assert scan.scan(image).pk == first.pk
    PackageScan.objects.filter(pk=first.pk).update(version=0)
    assert scan.scan(image).version == PackageScan.VERSION
    assert image.packages.filter(normalized="libssl3").count() == 2


def test_the_packages_page_lists_versions_layers_and_the_hidden_flag(client: Client, image):
    page = soup(client.get(f"/images/{image.digest}/packages"))
    names = [th.get_text(" ", strip=True) for th in page.select("tr.package th.package-name")]
    assert names == ["libssl3 amd64", "ms", "six"]  # shipped only, by name
    hidden = page.select_one("tr.hidden-shipped")
    assert hidden.select_one(".package-name").get_text(strip=True).startswith("libssl3")
    assert "3.0.11-1 →" in hidden.select_one(".package-version").get_text(" ", strip=True)
    link = hidden.select_one(".package-layer a")
    assert link.get_text() == "#2" and "layer=1" in link["href"]
    assert page.select_one("form.filters")["method"] == "get"
    assert page.select_one("a[download]")["href"].endswith("/sbom")


def test_the_packages_page_filters_by_ecosystem_and_name_and_sorts_by_size(client: Client, image):
    url = f"/images/{image.digest}/packages"
    page = soup(client.get(url, {"ecosystem": "python", "show": "all"}))
    assert {tr["data-ecosystem"] for tr in page.select("tr.package")} == {"python"}
    gone = page.select("tr.package.gone")
    assert len(gone) == 2  # six 1.16.0 upgraded, idna removed
    assert "removed in" in " ".join(tr.get_text(" ") for tr in gone)
    page = soup(client.get(url, {"q": "SSL", "show": "all"}))
    assert len(page.select("tr.package")) == 2
    page = soup(client.get(url, {"sort": "-size"}))
    sizes = [td.select_one("span")["title"] for td in page.select("td.package-size")]
    numbers = [int(s.split()[0].replace(",", "")) for s in sizes]
    assert numbers == sorted(numbers, reverse=True)
    fragment = client.get(url, {"ecosystem": "npm"}, **HTMX)
    assert b"<html" not in fragment.content and b"package-rows" in fragment.content


def test_the_layer_panel_shows_what_the_layer_did_to_packages(client: Client, image):
    page = soup(client.get(f"/images/{image.digest}/", {"layer": 1}))
    panel = page.select_one(".layer-packages")
    upgraded = [li.get_text(" ", strip=True) for li in panel.select(".package-changes.upgraded li")]
    assert "libssl3 3.0.11-1 → 3.0.13-1 dpkg" in upgraded
    page = soup(client.get(f"/images/{image.digest}/", {"layer": 2}))
    removed = page.select(".layer-packages .package-changes.removed .package-name")
    assert [x.get_text() for x in removed] == ["bash", "idna"]
    assert page.select_one(f"a[href='/images/{image.digest}/packages']")


def test_the_api_lists_packages_and_the_command_prints_the_same_json(client: Client, image):
    answer = client.get("/api/images/lv/pkgs:1/packages", {"show": "all"}).json()
    libssl = [p for p in answer["packages"] if p["name"] == "libssl3"]
    assert [(p["version"], p["layer"], p["gone_at"]) for p in libssl] == [
        ("3.0.11-1", 1, 2),
        ("3.0.13-1", 2, None),
    ]
    assert answer["problems"] == []
    out = io.StringIO()
    call_command("packages", "lv/pkgs:1", "--json", stdout=out)
    listed = json.loads(out.getvalue())
    assert {"ecosystem": "dpkg", "name": "libssl3", "version": "3.0.13-1", "layer": 2,
            "files": 2, "bytes": 5100 + len(COPYRIGHT)} in listed  # fmt: skip
    assert all(
        set(p) == {"ecosystem", "name", "version", "layer", "files", "bytes"} for p in listed
    )
    assert client.get("/api/images/lv/absent:1/packages").status_code == 404
    owners = client.get("/api/images/lv/pkgs:1/packages", {"path": "/usr/lib/libssl.so.3"}).json()
    assert [(p["name"], p["version"]) for p in owners["packages"]] == [("libssl3", "3.0.13-1")]


def test_the_sbom_is_cyclonedx_with_purls_and_each_component_s_layer_diff_id(client: Client, image):
    response = client.get("/api/images/lv/pkgs:1/sbom")
    assert response["Content-Disposition"].startswith("attachment;")
    bom = json.loads(response.content)
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.6")
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(response.content.decode())
    assert errors is None, getattr(errors.data, "message", errors)
    diff_ids = [il.layer.diff_id for il in image.layers_in_order()]
    by_name = {c["name"]: c for c in bom["components"]}
    assert set(by_name) == {"libssl3", "ms", "six"}
    props = {p["name"]: p["value"] for p in by_name["six"]["properties"]}
    assert props["layerviz:layer:diff_id"] == diff_ids[1]
    assert by_name["ms"]["purl"] == "pkg:npm/ms@2.1.3"


def test_compare_shows_packages_added_removed_and_upgraded(client: Client, image, tmp_path):
    base = ingest_image(tmp_path, "lv/pkgs-base:1", [base_layer()])
    page = soup(client.get("/compare", {"a": base.digest, "b": image.digest}))
    table = page.select_one(".package-diff-table")
    upgraded = [tr.get_text(" ", strip=True) for tr in table.select("tr.upgraded")]
    assert "libssl3 amd64 dpkg 3.0.11-1 → 3.0.13-1" in upgraded
    assert [tr.th.get_text() for tr in table.select("tr.added")] == ["ms"]
    assert {tr.th.get_text(" ", strip=True) for tr in table.select("tr.removed")} == {
        "bash amd64",
        "idna",
    }
    answer = client.get("/api/compare", {"a": base.digest, "b": image.digest}).json()
    assert {"ecosystem": "npm", "name": "ms", "arch": None, "versions": ["2.1.3"]} in answer[
        "packages"
    ]["added"]


def test_broken_databases_leave_the_image_indexed_and_the_page_says_which_and_why(
    client: Client, tmp_path
):
    image = ingest_image(
        tmp_path,
        "lv/pkgs-broken:1",
        [
            synth.layer(
                [
                    file("var/lib/dpkg/status", b"Package: a\nthis is not a field\n"),
                    file("var/lib/rpm/rpmdb.sqlite", b"not an sqlite database at all"),
                    file("a/node_modules/bad/package.json", b'{"name": '),
                    file("a/node_modules/big/package.json", b" " * (5 << 20) + b"{}"),
                    file(
                        "a/node_modules/good/package.json", b'{"name": "good", "version": "1.0.0"}'
                    ),
                ]
            )
        ],
    )
    page = soup(client.get(f"/images/{image.digest}/packages"))
    problems = {
        li.code.get_text(): li.get_text(" ", strip=True)
        for li in page.select(".package-problems li")
    }
    assert set(problems) == {
        "/var/lib/dpkg/status",
        "/var/lib/rpm/rpmdb.sqlite",
        "/a/node_modules/bad",
        "/a/node_modules/big",
    }
    assert "line 2" in problems["/var/lib/dpkg/status"]
    assert "not an SQLite database" in problems["/var/lib/rpm/rpmdb.sqlite"]
    assert "not valid JSON" in problems["/a/node_modules/bad"]
    assert [th.get_text() for th in page.select("tr.package th")] == ["good"]
    assert client.get(f"/images/{image.digest}/").status_code == 200
