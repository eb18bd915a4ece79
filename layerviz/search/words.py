"""The words of the search's error codes (``queries.BadQuery``), for the page and the API."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from layerviz.lib.tarwalk import BLOCKDEV, CHAR, FIFO, LINK, REG, SYMLINK

from .queries import NAME, PACKAGE, PATH, SHA256, BadQuery

ERRORS = {
    "empty": _("Type something to search for: a path, a file name or a sha256."),
    "too-long": _("The query is longer than %(limit)s characters."),
    "nul": _("The query holds a NUL character, which no path holds."),
    "unknown-kind": _("There is no search kind “%(kind)s”; the kinds are %(kinds)s."),
    "bad-sha256": _("A sha256 is 64 hexadecimal digits, with or without “sha256:” in front."),
    "too-short": _(
        "A part of a path needs at least %(chars)s characters; for a shorter file name, "
        "search by name."
    ),
    "glob-too-broad": _(
        "This pattern would match almost every file: it needs %(chars)s characters in a row "
        "that are not * ? or [ ]."
    ),
    "slash-in-name": _("A file name holds no “/”: search by path instead."),
    "bad-set": _(
        "The set %(set)s is not understood: a [ ] set holds letters, digits, . _ + and "
        "ranges such as a-z, optionally after “!”."
    ),
}


def error_text(error: BadQuery) -> str:
    return str(ERRORS[error.code]) % error.params


# What a hit that is not a regular file is (a regular file shows its sha256 instead).
TYPE_WORDS = {
    REG: _("file"),
    LINK: _("hard link"),
    SYMLINK: _("symbolic link"),
    CHAR: _("character device"),
    BLOCKDEV: _("block device"),
    FIFO: _("named pipe"),
}

# The kinds as the page names them; "" is no kind: guess it from the text.
KIND_WORDS = {
    "": pgettext_lazy("search kind", "guess"),
    PATH: pgettext_lazy("search kind", "path"),
    NAME: pgettext_lazy("search kind", "file name"),
    SHA256: pgettext_lazy("search kind", "content sha256"),
    PACKAGE: pgettext_lazy("search kind", "package"),
}
