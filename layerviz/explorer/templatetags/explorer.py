"""Formatting for the explorer pages: sizes, digests, instructions, change kinds, layer numbers
and links."""

from __future__ import annotations

from django import template
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext as _

from layerviz.explorer import change_words, links, note_words
from layerviz.images import progress
from layerviz.lib import changes, filemode, instructions, stored_text, units
from layerviz.lib.units import human_bytes

register = template.Library()

COPY_ICON = (
    '<svg aria-hidden="true" width="13" height="13" viewBox="0 0 16 16"><rect x="5" y="5" width="9" '
    'height="9" rx="1.5" fill="none" stroke="currentColor" stroke-width="1.5"/><path d="M11 3.5V3a1 1 0 '
    '0 0-1-1H3a1 1 0 0 0-1 1v7a1 1 0 0 0 1 1h.5" fill="none" stroke="currentColor" stroke-width="1.5"/></svg>'
)


@register.filter
def bytes_(n: int | None) -> str:
    """A size in human units, the exact number of bytes on hover."""
    if n is None:
        return "–"
    return format_html('<span class="size" title="{}">{}</span>', exact(n), human_bytes(n))


@register.filter
def human(n: int | None) -> str:
    """A size in human units inside running text (a sentence, a note): the exact number of
    bytes on hover too, without the layout of a size column."""
    if n is None:
        return "–"
    return format_html('<span title="{}">{}</span>', exact(n), human_bytes(n))


def exact(n: int) -> str:
    return _("%(count)s bytes") % {"count": number_format(n, force_grouping=True)}


@register.filter
def short_digest(digest: str, length: int = 12) -> str:
    algorithm, sep, encoded = (digest or "").partition(":")
    if not sep:
        return digest[:length]  # a bare hex hash, as for a file's content
    return f"{algorithm}:{encoded[:length]}"


@register.simple_tag
def digest(value: str, length: int = 12) -> str:
    """A shortened digest with the full one on hover and a copy button."""
    if not value:
        return ""
    return format_html(
        '<span class="digest"><code title="{}">{}</code>'
        '<button type="button" class="copy" data-copy="{}" aria-label="{}" data-copied-label="{}">'
        + COPY_ICON
        + "</button></span>",
        value,
        short_digest(value, length),
        value,
        _("Copy %(digest)s") % {"digest": value},
        _("Copied"),
    )


@register.filter
def instruction(created_by: str) -> str:
    return instructions.clean_instruction(created_by)


@register.filter
def metadata_changes(meta: tuple[tuple[str, str, str], ...]) -> str:
    """``mode -rw-r--r-- → -rwxr-xr-x; owner 0:0 → 1000:1000``, in the reader's words."""
    return "; ".join(f"{change_words.META[field]} {old} → {new}" for field, old, new in meta)


@register.filter
def visible(text: str) -> str:
    """Image text with its control characters shown escaped (``stored_text.visible``)."""
    return stored_text.visible(str(text))


@register.filter
def keyword(text: str) -> str:
    return instructions.keyword(text)


@register.filter
def mode_string(mode: int, type_: str) -> str:
    """``-rwsr-xr-x``-style permissions (``lib/filemode``)."""
    return filemode.mode_string(mode, type_)


@register.filter
def layer_no(position: int) -> str:
    """A 0-based layer position as people read it: "#1" for the bottom layer."""
    return units.layer_no(position)


@register.filter
def layer_number(position: int) -> int:
    """A 0-based layer position as the number in a sentence ("Layer #{{ n }}")."""
    return units.layer_number(position)


@register.simple_tag
def layer_url(image: object, position: int, path: str = "") -> str:
    """The image page with layer ``position`` open; ``image`` is an Image or its digest."""
    digest = image if isinstance(image, str) else image.digest  # type: ignore[attr-defined]
    return links.layer_url(digest, position, path)


@register.simple_tag
def panel_query(state, **changes: object) -> str:
    """The query string of the image page with some of the panel state changed."""
    return state.query(**changes)


@register.simple_tag
def step_query(state, **changes: object) -> str:
    """The query string of the stepper with its state (``stepper.StepState``) changed."""
    return state.query(**changes)


@register.filter
def detail_word(code: str) -> str:
    """How a path changed or was deleted, in words (``change_words.DETAILS``)."""
    return str(change_words.DETAILS.get(code, ""))


def badge(row, state=None) -> dict:
    """Letter and word, never colour alone. In the merged view, rows from lower layers are
    unchanged by the selected layer whatever they were when written."""
    own = state is None or row.depth == state.layer
    kind = row.kind if own or state.mode != "merged" else changes.UNCHANGED
    letter, word = change_words.KINDS[kind]
    detail = change_words.DETAILS.get(row.detail, "") if own else ""
    if own and row.flags & changes.OPAQUE_DIR:
        detail = change_words.OPAQUE  # what it did is hide the layers below, not "parent of"
    return {"kind": kind, "letter": letter, "word": word, "detail": detail}


@register.filter
def kind_word(code: str) -> str:
    """What a layer did to a path, in a word (``change_words``)."""
    return str(change_words.KINDS[code][1])


@register.simple_tag
def kind_badge(row, state=None) -> str:
    """The badge of a row's change kind (the one definition of its markup)."""
    b = badge(row, state)
    detail = b["detail"]
    return format_html(
        '<span class="badge k-{}" title="{}{}"><span aria-hidden="true">{}</span>'
        '<span class="visually-hidden">{}{}</span></span>',
        b["kind"],
        b["word"],
        f": {detail}" if detail else "",
        b["letter"],
        b["word"],
        f" ({detail})" if detail else "",
    )


@register.simple_tag
def phase(job) -> str:
    """An ingest job's progress phase in the page's language."""
    return progress.words(job.phase, job.phase_args, _)


@register.filter
def get_item(mapping: dict, key: object) -> object:
    return mapping.get(key, "")


@register.filter
def pretty(value: object) -> str:
    """Config values as people write them: ``key=value`` for maps, words for lists."""
    if value is None or value == "" or value == [] or value == {}:
        return "–"
    if isinstance(value, dict):
        return ", ".join(
            f"{k}={v}" if v not in ({}, None, "") else str(k) for k, v in value.items()
        )
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


@register.filter
def percent(ratio: float | None) -> str:
    """0.95088 -> "95.09"."""
    if ratio is None:
        return "–"
    return f"{ratio * 100:.2f}"


@register.filter
def is_compressed(media_type: str) -> bool:
    return media_type.endswith(("gzip", "zstd"))


@register.filter
def layer_note(note: str | dict) -> str:
    """A layer's flag (a code) or its chain's note (a code with parameters), in words."""
    if isinstance(note, dict):
        words = note_words.NOTES.get(note.get("code", ""))
        return str(words) % note if words else str(note.get("code", ""))
    return str(note_words.FLAGS.get(note, note))
