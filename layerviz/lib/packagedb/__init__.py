"""Package databases read from the files a layer stack holds: which packages are installed,
at which version, and which files each one owns.

Each ecosystem is one module with the same small interface, a ``read(unit, files)`` that takes
one database unit (``unit_of`` names it from a path) and the bytes of its files, and returns the
packages it lists, or raises ``Unreadable`` with a sentence saying why:

========  ==============================================================  ===================
module    files                                                           unit
========  ==============================================================  ===================
dpkg      ``var/lib/dpkg/status`` + ``info/<pkg>[:arch].list``; distroless  the status file;
          ``status.d/<pkg>`` + ``status.d/<pkg>.md5sums``                    each status.d file
apk       ``lib/apk/db/installed`` (its ``F:``/``R:`` lines list the files)  the file
rpm       ``var/lib/rpm/rpmdb.sqlite`` (rpm ≥ 4.16's sqlite backend)          the file
python    ``*.dist-info/METADATA`` + ``RECORD``; ``*.egg-info`` (directory   the directory
          with ``PKG-INFO`` + ``installed-files.txt``, or a single file)
npm       ``node_modules/[@scope/]name/package.json``                        the package.json
========  ==============================================================  ===================

Paths are the clean text form the index stores (``lib.names``: no leading ``/``). Everything
here is plain Python over bytes: hostile databases (garbage, huge, nested, not the format they
claim) give ``Unreadable``, never another exception.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping

MAX_FIELD = 256  # characters of a name or version: longer is not a real package


class Unreadable(Exception):
    """A database that could not be read; the message says why, in a sentence."""


@dataclasses.dataclass(frozen=True, slots=True)
class Package:
    """One installed package as its database lists it."""

    ecosystem: str  # dpkg, apk, rpm, python, npm
    name: str
    version: str
    # What the package is unique within: the database file (dpkg, apk, rpm), the status.d
    # folder, or the directory holding it (the site directory of a Python distribution, the
    # package's own directory for npm). One name may be installed once per location.
    location: str
    source: str  # the database file it was read from
    arch: str = ""
    license: str = ""
    installed_size: int | None = None  # bytes, when the database records it
    files: tuple[str, ...] = ()  # the paths it owns, as its database lists them
    # Whether ``files`` comes from the database (False: npm, whose files are its directory's).
    listed: bool = True
    epoch: str = ""  # rpm only
    upstream: str = ""  # dpkg's Source, rpm's SOURCERPM, apk's origin

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Identity across layers: a new version under the same key is an upgrade."""
        name = normalized(self.ecosystem, self.name)
        return (self.ecosystem, self.location, name, self.arch)


def normalized(ecosystem: str, name: str) -> str:
    """The name as the ecosystem compares names (PEP 503 for Python)."""
    if ecosystem == "python":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


def checked(what: str, value: str) -> str:
    if not value:
        raise Unreadable(f"a package has no {what}")
    if len(value) > MAX_FIELD:
        raise Unreadable(f"a package's {what} is longer than {MAX_FIELD} characters")
    if any(ch < " " for ch in value):
        raise Unreadable(f"a package's {what} holds control characters")
    return value


_DIST_INFO = re.compile(r"^(?P<dir>(?:.*/)?[^/]+\.dist-info)/(?:METADATA|RECORD)$")
_EGG_INFO = re.compile(
    r"^(?P<dir>(?:.*/)?[^/]+\.egg-info)(?:/(?:PKG-INFO|installed-files\.txt|SOURCES\.txt))?$"
)
_NPM = re.compile(r"^(?P<dir>(?:.*/)?node_modules/(?:@[^/]+/)?[^/@][^/]*)/package\.json$")
DPKG_STATUS = "var/lib/dpkg/status"
DPKG_INFO = "var/lib/dpkg/info/"
DPKG_STATUS_D = "var/lib/dpkg/status.d/"
APK_INSTALLED = "lib/apk/db/installed"
RPM_SQLITE = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
OS_RELEASE = ("etc/os-release", "usr/lib/os-release")


def unit_of(path: str) -> tuple[str, str] | None:
    """(ecosystem, unit) of a captured path: the unit is the path that names one database
    (what a problem is reported against); None for a path no database is made of."""
    if path == DPKG_STATUS or (path.startswith(DPKG_INFO) and path.endswith(".list")):
        return "dpkg", DPKG_STATUS
    if path.startswith(DPKG_STATUS_D):
        return "dpkg", path.removesuffix(".md5sums")
    if path == APK_INSTALLED:
        return "apk", path
    if path in RPM_SQLITE:
        return "rpm", path
    for pattern in (_DIST_INFO, _EGG_INFO):
        match = pattern.match(path)
        if match:
            return "python", match["dir"]
    match = _NPM.match(path)
    if match:
        return "npm", match["dir"]
    return None


def read(ecosystem: str, unit: str, files: Mapping[str, bytes | None]) -> list[Package]:
    """The packages of one database unit, from its files (path -> bytes; None for a file too
    big to have been kept)."""
    from . import apk, dpkg, npm, python, rpm

    readers = {
        "dpkg": dpkg.read,
        "apk": apk.read,
        "rpm": rpm.read,
        "python": python.read,
        "npm": npm.read,
    }
    for path, data in files.items():
        if data is None and unit_of(path) is not None and (path == unit or ecosystem != "dpkg"):
            raise Unreadable(f"{path} is too big to have been kept at ingest")
    try:
        return readers[ecosystem](unit, files)
    except Unreadable:
        raise
    except (ValueError, UnicodeError, RecursionError, MemoryError, OverflowError) as exc:
        raise Unreadable(f"{type(exc).__name__}: {exc}") from None
    except Exception as exc:  # a reader's bug must not take the image's pages down with it
        raise Unreadable(f"could not be read ({type(exc).__name__}: {exc})") from exc
