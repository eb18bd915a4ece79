"""How a file's bytes are shown: as highlighted text, as hex, as an image, or as an ELF summary,
and two versions as a diff.

The bytes are an image's, so untrusted: text goes through Pygments, which escapes every
character (HTML and SVG are shown as their source); images are only the raster formats a
browser decodes without running anything, sniffed from their first bytes, never from the name.
"""

from __future__ import annotations

import dataclasses
import difflib
import io

from django.utils.safestring import SafeString, mark_safe
from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import InterpSegment
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

TEXT, HEX, IMAGE, ELF = "text", "hex", "image", "elf"
VIEWS = (TEXT, HEX, IMAGE, ELF)

# What is read of a file to show it inline; a bigger file is shown in part, and downloaded.
INLINE_BYTES = 4 * 1024**2
LINES_PER_PAGE = 1000
HEX_PAGE = 4096
# Lines of each side compared in a diff (difflib is quadratic in the worst case).
DIFF_LINES = 20000

_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def image_type(data: bytes) -> str | None:
    """The raster image type of these bytes (from their first bytes), or None."""
    for magic, kind in _IMAGE_MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def is_elf(data: bytes) -> bool:
    return data[:4] == b"\x7fELF"


def as_text(data: bytes) -> str | None:
    """The bytes as text, when they are UTF-8 without NUL bytes (a cut at the inline limit may
    split the last character: that one is dropped)."""
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8")
        return None


def default_view(data: bytes) -> str:
    if image_type(data):
        return IMAGE
    if is_elf(data):
        return ELF
    return TEXT if as_text(data) is not None else HEX


@dataclasses.dataclass
class TextPage:
    html: SafeString
    page: int
    pages: int
    first_line: int
    lines: int


def text_page(name: str, text: str, page: int) -> TextPage:
    """One page of the text, highlighted for its file name, lines numbered and anchored
    (``#L12``) so a line can be linked."""
    lines = text.splitlines(keepends=True)
    pages = max(1, -(-len(lines) // LINES_PER_PAGE))
    page = min(max(page, 1), pages)
    first = (page - 1) * LINES_PER_PAGE
    chunk = "".join(lines[first : first + LINES_PER_PAGE])
    try:
        lexer = get_lexer_for_filename(name, stripnl=False, ensurenl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False, ensurenl=False)
    formatter = HtmlFormatter(
        linenos="table",
        linenostart=first + 1,
        lineanchors="L",
        anchorlinenos=True,
        cssclass="hl",
        wrapcode=True,
    )
    # Pygments escapes every character of the text: the markup is its own.
    html = mark_safe(pygments_highlight(chunk, lexer, formatter))
    return TextPage(html, page, pages, first + 1, len(lines))


@dataclasses.dataclass
class HexRow:
    offset: int
    hex: str
    ascii: str


def hex_rows(data: bytes, start: int = 0) -> list[HexRow]:
    """``hexdump -C``'s rows for ``data``, which begins at byte ``start`` of the file."""
    rows = []
    for i in range(0, len(data), 16):
        line = data[i : i + 16]
        hex_ = (
            " ".join(f"{b:02x}" for b in line[:8]) + "  " + " ".join(f"{b:02x}" for b in line[8:])
        )
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in line)
        rows.append(HexRow(start + i, hex_, text))
    return rows


@dataclasses.dataclass
class ElfSummary:
    elf_class: str = ""
    machine: str = ""
    kind: str = ""
    interpreter: str = ""
    needed: list[str] = dataclasses.field(default_factory=list)
    error: str = ""


def elf_summary(data: bytes) -> ElfSummary:
    """What ``file`` and ``readelf -d`` would say first: class, machine, type, interpreter and
    the libraries it needs. A malformed file says what could not be read."""
    out = ElfSummary()
    try:
        elf = ELFFile(io.BytesIO(data))
        out.elf_class = f"ELF{elf.elfclass}"
        out.machine = elf.get_machine_arch()
        out.kind = str(elf.header["e_type"])
        for segment in elf.iter_segments():
            if isinstance(segment, InterpSegment):
                out.interpreter = segment.get_interp_name()
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                # pyelftools gives a DT_NEEDED tag its library's name as ``needed``.
                out.needed = [
                    str(getattr(tag, "needed", ""))
                    for tag in section.iter_tags()
                    if tag.entry.d_tag == "DT_NEEDED"
                ]
    except (ELFError, ValueError, KeyError, IndexError, EOFError, AssertionError) as exc:
        out.error = str(exc) or type(exc).__name__
    return out


# --- diffs ----------------------------------------------------------------------------------


@dataclasses.dataclass
class SideBySide:
    tag: str  # equal, replace, delete, insert
    left_no: int | None
    left: str
    right_no: int | None
    right: str


def unified(a: list[str], b: list[str], a_name: str, b_name: str) -> list[tuple[str, str]]:
    """``diff -u``'s lines, each with its class: ``add``, ``del``, ``hunk`` or ``""``."""
    out = []
    for line in difflib.unified_diff(a, b, a_name, b_name, lineterm=""):
        if line.startswith(("+++", "---")):
            kind = "head"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = ""
        out.append((kind, line))
    return out


def side_by_side(a: list[str], b: list[str], context: int = 3) -> list[SideBySide | None]:
    """The changed lines beside each other with ``context`` lines around them; None marks the
    unchanged lines left out between two groups."""
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    rows: list[SideBySide | None] = []
    for group in matcher.get_grouped_opcodes(context):
        if rows:
            rows.append(None)
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows.extend(
                    SideBySide(tag, i1 + k + 1, a[i1 + k], j1 + k + 1, b[j1 + k])
                    for k in range(i2 - i1)
                )
                continue
            for k in range(max(i2 - i1, j2 - j1)):
                left = i1 + k < i2
                right = j1 + k < j2
                rows.append(
                    SideBySide(
                        tag if left and right else ("delete" if left else "insert"),
                        i1 + k + 1 if left else None,
                        a[i1 + k] if left else "",
                        j1 + k + 1 if right else None,
                        b[j1 + k] if right else "",
                    )
                )
    return rows
