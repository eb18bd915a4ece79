"""How a tar entry's type and mode read, on a page, in JSON and on the command line: one
definition, so ``ls -l``'s letters (setuid ``s``, setgid ``s``, sticky ``t`` included) are the
same everywhere."""

from __future__ import annotations

import stat
from typing import Protocol

from . import units
from .tarwalk import BLOCKDEV, CHAR, DIR, FIFO, LINK, REG, SYMLINK

# The JSON API's words for the tar types.
TYPE_NAMES = {
    REG: "file",
    LINK: "hardlink",
    SYMLINK: "symlink",
    CHAR: "char",
    BLOCKDEV: "block",
    DIR: "dir",
    FIFO: "fifo",
}
_FORMAT = {
    DIR: stat.S_IFDIR,
    SYMLINK: stat.S_IFLNK,
    CHAR: stat.S_IFCHR,
    BLOCKDEV: stat.S_IFBLK,
    FIFO: stat.S_IFIFO,
}
SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


def mode_string(mode: int, type_: str) -> str:
    """``ls -l``'s ``-rwsr-xr-x`` (``stat.filemode``); a hard link, which ``ls`` shows as the
    file it names, starts with ``h`` so that it can be told apart here."""
    text = stat.filemode(_FORMAT.get(type_, stat.S_IFREG) | (mode & 0o7777))
    return "h" + text[1:] if type_ == LINK else text


def is_setuid_or_setgid(mode: int) -> bool:
    return bool(mode & (stat.S_ISUID | stat.S_ISGID))


class Metadata(Protocol):
    @property
    def type(self) -> str: ...
    @property
    def mode(self) -> int: ...
    @property
    def uid(self) -> int: ...
    @property
    def gid(self) -> int: ...
    @property
    def mtime(self) -> int: ...


def metadata_changes(a: Metadata, b: Metadata) -> tuple[tuple[str, str, str], ...]:
    """Which of mode, owner and mtime differ from ``a`` to ``b``, as (field, old, new) as a
    person reads them (a directory's mtime is left out: every layer that touches a directory
    rewrites it)."""
    out = []
    if a.mode != b.mode:
        out.append(("mode", mode_string(a.mode, a.type), mode_string(b.mode, b.type)))
    if (a.uid, a.gid) != (b.uid, b.gid):
        out.append(("owner", f"{a.uid}:{a.gid}", f"{b.uid}:{b.gid}"))
    if a.type != DIR and b.type != DIR and a.mtime != b.mtime:
        out.append(("mtime", units.utc_time(a.mtime), units.utc_time(b.mtime)))
    return tuple(out)
