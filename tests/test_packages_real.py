"""Packages as the real package managers see them: images built by the real engine with
Debian's apt, pip from PyPI and npm from the npm registry (``tests/package_images.py``), then
read by layerviz, against what ``dpkg-query``, ``pip list`` and ``npm ls`` print inside a
container of the same image (``docker run --network none``); and an rpm database written by
the real rpm against ``rpm -qa``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from layerviz.images.ingest import ingest
from layerviz.images.models import Image
from layerviz.lib import packagedb
from layerviz.packages import scan

from . import components, package_images, rpmdb

pytestmark = [pytest.mark.docker, pytest.mark.django_db]


@pytest.fixture(scope="session")
def package_archives(tmp_path_factory) -> dict[str, Path]:
    """name -> ``docker save`` archive of each package image (built when its recipe changed)."""
    components.need("a Docker engine and the Debian base", package_images.problem())
    folder = tmp_path_factory.mktemp("package-images")
    return {
        name: package_images.save(package_images.build(name), folder / f"{name}.tar")
        for name in package_images.IMAGES
    }


@pytest.fixture(scope="session")
def in_container(package_archives) -> dict[str, str]:
    """What the package managers print inside a container of each image."""
    python, node = package_images.IMAGES["python"], package_images.IMAGES["node"]
    dpkg = "dpkg-query -W -f '${Package} ${Version}\\n'"
    return {
        "python-dpkg": package_images.run(python, "sh", "-c", dpkg),
        "pip": package_images.run(python, "pip", "list", "--format", "json"),
        "python -m pip": package_images.run(
            python, "python3", "-m", "pip", "list", "--format", "json"
        ),
        "node-dpkg": package_images.run(node, "sh", "-c", dpkg),
        "npm": package_images.run(node, "sh", "-c", "cd /app && npm ls --all --json"),
    }


def indexed(archive: Path) -> Image:
    [image] = ingest(f"docker-archive:{archive}")
    scan.scan(image)
    return image


def shipped(image: Image, ecosystem: str, **filters: str) -> set[tuple[str, str]]:
    rows = image.packages.shipped().filter(ecosystem=ecosystem, **filters)
    return set(rows.values_list("normalized", "version"))


def dpkg_query(output: str) -> set[tuple[str, str]]:
    return {tuple(line.split(" ", 1)) for line in output.splitlines() if line}  # type: ignore[misc]


def npm_tree(node: dict) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for name, child in (node.get("dependencies") or {}).items():
        out.add((name, child["version"]))
        out |= npm_tree(child)
    return out


def test_the_debian_packages_are_those_dpkg_query_lists_in_a_container(
    package_archives, in_container
):
    for name in ("python", "node"):
        image = indexed(package_archives[name])
        assert shipped(image, "dpkg") == dpkg_query(in_container[f"{name}-dpkg"])
        assert not image.package_scan.problems


def test_the_python_distributions_are_those_pip_lists_with_the_upgrade_and_removal_placed(
    package_archives, in_container
):
    image = indexed(package_archives["python"])
    for command in ("pip", "python -m pip"):
        listed = {
            (packagedb.normalized("python", p["name"]), p["version"])
            for p in json.loads(in_container[command])
        }
        assert shipped(image, "python") == listed, command
    six = {r.version: r for r in image.packages.filter(normalized="six")}
    # Layers as the Dockerfile makes them: 1 the base, 2 apt, 3 pip install, 4 the upgrade,
    # 5 the removals, 6 the rm of pip's docs.
    assert (six["1.16.0"].layer, six["1.16.0"].gone_at, six["1.16.0"].gone_how) == (
        2,
        3,
        "upgraded",
    )
    assert (six["1.17.0"].layer, six["1.17.0"].previous) == (3, "1.16.0")
    [idna] = image.packages.filter(normalized="idna")
    assert (idna.layer, idna.gone_at, idna.gone_how) == (2, 4, "removed")
    assert idna.files > 0 and idna.hidden_bytes == idna.bytes
    [less] = image.packages.filter(normalized="less")
    assert (less.layer, less.gone_at, less.gone_how) == (1, 4, "removed")
    [pip_deb] = image.packages.filter(ecosystem="dpkg", normalized="python3-pip")
    assert pip_deb.hidden_but_shipped  # its docs and man pages were rm'd in the last layer


def test_the_npm_packages_of_the_app_are_those_npm_ls_lists(package_archives, in_container):
    image = indexed(package_archives["node"])
    expected = npm_tree(json.loads(in_container["npm"]))
    assert expected >= {("debug", "4.3.4"), ("ms", "2.1.2"), ("@types/ms", "0.7.34")}
    assert shipped(image, "npm", location__startswith="app/node_modules/") == expected
    [debug] = image.packages.filter(
        ecosystem="npm", normalized="debug", location__startswith="app/"
    )
    assert debug.layer == image.layer_count - 1 and debug.files > 1 and debug.bytes > 0


def test_the_sbom_of_each_real_image_is_valid_cyclonedx_and_lists_what_ships(
    package_archives, client
):
    # The schema and its validator are CycloneDX's own (cyclonedx-python-lib), strict: no
    # property the specification does not define.
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    for name in ("python", "node"):
        image = indexed(package_archives[name])
        answer = client.get(f"/api/images/{image.digest}/sbom")
        assert answer.status_code == 200
        errors = validator.validate_str(answer.content.decode())
        assert errors is None, f"{name}: {getattr(errors.data, 'message', errors)}"
        bom = json.loads(answer.content)
        listed = {(c["name"], c["version"]) for c in bom["components"]}
        ships = set(image.packages.shipped().values_list("name", "version"))
        assert listed == ships, name
        diff_ids = {il.layer.diff_id for il in image.layers_in_order()}
        for component in bom["components"]:
            props = {p["name"]: p["value"] for p in component["properties"]}
            assert props["layerviz:layer:diff_id"] in diff_ids


def test_an_rpm_database_written_by_the_real_rpm_reads_as_rpm_qa_lists_it(tmp_path):
    components.need("rpm", rpmdb.problem())
    made = rpmdb.make(tmp_path)
    unit = "var/lib/rpm/rpmdb.sqlite"
    packages = packagedb.read("rpm", unit, {unit: made.read_bytes()})
    assert {(p.name, p.version) for p in packages} == rpmdb.query_all(made)
