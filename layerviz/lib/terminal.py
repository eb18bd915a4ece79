"""Text for a terminal: what the management commands print, names and paths from an image
among it, with the characters a terminal would act on shown as escapes instead.

A file name may hold ``ESC [ 2 J`` (clear the screen), ``ESC ] 0 ; … BEL`` (retitle the
window, or worse on some terminals), a C1 control (U+009B is a CSI on its own), a carriage
return that overwrites the line, or a bidi override (U+202E) that shows ``gnp.exe`` as
``exe.png``. Printed raw, an image could rewrite what a person reads about it.

Every command prints the names and paths it prints through ``escaped``, terminal or not; the
one exception is ``analyze --ci`` when its output is not a terminal, which must be dive's bytes
exactly so that it can stand in for dive in a pipeline (``for_stream``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .stored_text import visible

# A byte that is not UTF-8 is held in a path as its surrogate escape (U+DC80–U+DCFF): shown as
# the byte it stands for, as ``names.display`` shows it.
_UNDECODED = re.compile("[\udc80-\udcff]")


def escaped(text: str) -> str:
    """``text`` with every control character (C0, DEL, C1), bidi control and lone surrogate as
    ``\\xNN`` / ``\\uNNNN``: the characters pages escape (``stored_text.visible``), and tab and
    newline too, since on a terminal a name must stay on its line."""
    text = _UNDECODED.sub(lambda m: f"\\x{ord(m.group(0)) - 0xDC00:02x}", text)
    return visible(text.replace("\t", "\\x09").replace("\n", "\\x0a"))


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` (a file, or Django's ``OutputWrapper`` of one) is a terminal."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # closed
        return False


def for_stream(stream: Any) -> Callable[[str], str]:
    """``escaped`` when ``stream`` is a terminal, else the text as it is: for output that must
    keep its bytes when piped (dive's CI report)."""
    return escaped if is_terminal(stream) else _as_is


def _as_is(text: str) -> str:
    return text
