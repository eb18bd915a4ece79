"""How a tar entry's type and mode read, on a page, in JSON and on the command line: one
definition, so ``ls -l``'s letters (setuid ``s``, setgid ``s``, sticky ``t`` included) are the
same everywhere."""

from __future__ import annotations

import stat

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
