"""History ``created_by`` strings turned back into the Dockerfile instructions people wrote.

The classic builder records ``/bin/sh -c #(nop)  ENV A=1`` for metadata steps and
``/bin/sh -c apt-get …`` for RUN; BuildKit records ``RUN /bin/sh -c …`` (with ``|N ARG=… ``
build-argument prefixes) and ``ENV A=1 # buildkit``; ``docker import`` records nothing.
"""

from __future__ import annotations

import re

from .stored_text import visible

_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s*")
_SHELL = re.compile(r"^(?:/bin/sh|/bin/bash|cmd /S /C) -c\s+")
_BUILD_ARGS = re.compile(r"^\|\d+(?:\s+[A-Za-z_][A-Za-z0-9_]*=\S*)*\s+")
_BUILDKIT_SUFFIX = re.compile(r"\s+# buildkit$")
_KEYWORDS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)  # fmt: skip


def clean_instruction(created_by: str) -> str:
    """The instruction as people read it, with control characters shown escaped
    (``stored_text.visible``): every page and chart shows instructions through this."""
    return visible(_clean(created_by))


def _clean(created_by: str) -> str:
    text = created_by.strip()
    if not text:
        return ""
    text = _BUILDKIT_SUFFIX.sub("", text)
    if _NOP.match(text):
        return _ports(_squeeze(_NOP.sub("", text)))
    keyword, _, rest = text.partition(" ")
    if keyword == "RUN":
        rest = _BUILD_ARGS.sub("", rest)
        return "RUN " + _SHELL.sub("", rest)
    if keyword in _KEYWORDS:
        return _ports(text)
    text = _BUILD_ARGS.sub("", text)
    if _SHELL.match(text):
        return "RUN " + _SHELL.sub("", text)
    return text


# The classic builder records EXPOSE as Go prints the port set: ``EXPOSE map[8080/tcp:{}]``.
_GO_PORT_MAP = re.compile(r"^EXPOSE map\[(.*)\]$")


def _ports(text: str) -> str:
    match = _GO_PORT_MAP.match(text)
    if not match:
        return text
    return "EXPOSE " + " ".join(port.removesuffix(":{}") for port in match.group(1).split())


def keyword(instruction: str) -> str:
    """The instruction's keyword (``RUN``, ``COPY``…), or ``""`` when there is none."""
    word = instruction.partition(" ")[0]
    return word if word in _KEYWORDS else ""


def _squeeze(text: str) -> str:
    # The classic builder writes "ENV A=1" with two spaces after (nop); keep the keyword tidy.
    keyword_, _, rest = text.partition(" ")
    return f"{keyword_} {rest.strip()}" if rest else keyword_
