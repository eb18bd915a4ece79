"""Package URLs (purl, the package-url spec) of packages, with the ``packageurl`` library."""

from __future__ import annotations

from packageurl import PackageURL

from . import Package, normalized

# The distribution a system package's purl names when os-release does not say.
_DEFAULT_DISTRO = {"dpkg": "debian", "apk": "alpine", "rpm": ""}
_TYPES = {"dpkg": "deb", "apk": "apk", "rpm": "rpm", "python": "pypi", "npm": "npm"}


def purl(package: Package, distro: tuple[str, str] = ("", "")) -> str:
    """``pkg:deb/debian/libc6@2.36-9?arch=amd64&distro=debian-12`` and the like."""
    kind = _TYPES[package.ecosystem]
    qualifiers: dict[str, str] = {}
    namespace: str | None = None
    name = package.name
    if package.ecosystem in _DEFAULT_DISTRO:
        namespace = distro[0] or _DEFAULT_DISTRO[package.ecosystem] or None
        if package.arch:
            qualifiers["arch"] = package.arch
        if package.epoch:
            qualifiers["epoch"] = package.epoch
        if distro[0]:
            qualifiers["distro"] = "-".join(p for p in distro if p)
    elif package.ecosystem == "python":
        name = normalized("python", name)
    elif package.ecosystem == "npm" and name.startswith("@") and "/" in name:
        namespace, _, name = name.partition("/")
    return PackageURL(
        type=kind, namespace=namespace, name=name, version=package.version, qualifiers=qualifiers
    ).to_string()
