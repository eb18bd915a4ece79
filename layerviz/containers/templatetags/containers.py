from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from layerviz.images import containers

register = template.Library()

# docker diff's letters in words: C is "changed", as docker's documentation has it.
WORDS = {
    containers.ADDED: _("added"),
    containers.CHANGED: _("changed"),
    containers.DELETED: _("deleted"),
}


@register.simple_tag
def diff_badge(change: containers.Change) -> str:
    """docker diff's letter on the colour layerviz gives that kind of change; the word too, for
    who cannot see the colour."""
    return format_html(
        '<span class="badge k-{}" title="{}"><span aria-hidden="true">{}</span>'
        '<span class="visually-hidden">{}</span></span>',
        change.badge,
        WORDS[change.kind],
        change.kind,
        WORDS[change.kind],
    )
