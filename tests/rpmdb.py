"""A real rpm database, written by the real rpm (Debian's ``rpm`` package: rpmbuild and rpm
4.18, whose default backend is sqlite): two tiny packages built with rpmbuild and recorded
with ``rpm -i --justdb`` into a fresh ``rpm --initdb``.

The parser tests (``tests/test_packagedb.py``) read one made by each run, and
``tests/test_packages_real.py`` checks that layerviz reads it as ``rpm -qa`` lists it. Nothing
generated is kept in the repository.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SPEC = """Name: {name}
Version: {version}
Release: {release}
{epoch}Summary: a test package of layerviz
License: MIT
BuildArch: noarch

%description
A test package.

%install
mkdir -p %{{buildroot}}/usr/share/{name}
printf 'hello from an rpm\\n' > %{{buildroot}}/usr/share/{name}/hello.txt

%files
/usr/share/{name}/hello.txt
"""
PACKAGES = [("lv-hello", "1.2", "3", ""), ("lv-other", "0.9", "1", "Epoch: 2\n")]


def problem() -> str | None:
    if shutil.which("rpm") is None or shutil.which("rpmbuild") is None:
        return "Debian's rpm package is not installed (apt install rpm)"
    return None


def make(folder: Path) -> Path:
    """An rpmdb.sqlite in ``folder`` holding PACKAGES; its path."""
    top = folder / "rpmbuild"
    db = folder / "db"
    db.mkdir(parents=True)
    subprocess.run(["rpm", "--initdb", "--dbpath", str(db)], check=True)
    for name, version, release, epoch in PACKAGES:
        spec = folder / f"{name}.spec"
        spec.write_text(SPEC.format(name=name, version=version, release=release, epoch=epoch))
        subprocess.run(
            ["rpmbuild", "-bb", "--define", f"_topdir {top}", "--quiet", str(spec)],
            check=True,
            capture_output=True,
        )
    built = sorted(str(p) for p in (top / "RPMS").rglob("*.rpm"))
    subprocess.run(
        ["rpm", "-i", "--justdb", "--nodeps", "--dbpath", str(db), *built],
        check=True,
        capture_output=True,
    )
    return db / "rpmdb.sqlite"


def query_all(db: Path) -> set[tuple[str, str]]:
    """What ``rpm -qa`` lists: (name, version-release)."""
    out = subprocess.run(
        ["rpm", "-qa", "--dbpath", str(db.parent), "--qf", "%{NAME} %{VERSION}-%{RELEASE}\\n"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {tuple(line.split(" ", 1)) for line in out.splitlines() if line}  # type: ignore[misc]
