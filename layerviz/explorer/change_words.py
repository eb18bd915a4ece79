"""The words for what a layer did to a path, in one place: the codes are ``lib/changes.py``'s,
the pages show these (translated)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from layerviz.lib import changes

# code -> (the letter a badge shows, the word)
KINDS = {
    changes.ADDED: ("A", gettext_lazy("added")),
    changes.MODIFIED: ("M", gettext_lazy("modified")),
    changes.DELETED: ("D", gettext_lazy("deleted")),
    changes.UNCHANGED: ("·", gettext_lazy("unchanged")),
}
DETAILS = {
    changes.CONTENT: gettext_lazy("content changed"),
    changes.TYPE: gettext_lazy("type changed"),
    changes.METADATA: gettext_lazy("metadata only"),
    changes.IDENTICAL: gettext_lazy("identical copy"),
    changes.PARENT: gettext_lazy("parent of a change"),
    changes.BY_WHITEOUT: gettext_lazy("by a whiteout"),
    changes.BY_OPAQUE: gettext_lazy("by an opaque directory"),
    changes.BY_REPLACEMENT: gettext_lazy("replaced"),
}
# A directory the layer marked opaque (.wh..wh..opq): what the layers below had in it is gone.
OPAQUE = gettext_lazy("opaque: hides what the layers below had here")
# The kind filter's choices: (code, word).
CHOICES = [(code, word) for code, (_letter, word) in KINDS.items()]
# What a metadata-only change changed (``lib/filemode.metadata_changes``' fields).
META = {
    "mode": gettext_lazy("mode"),
    "owner": gettext_lazy("owner"),
    "mtime": gettext_lazy("mtime"),
}
