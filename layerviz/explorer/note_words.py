"""The words for what a layer is flagged with and what its chain notes (stored as codes with
``lib/layer.py`` and ``lib/changes.py``), in one place."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from layerviz.lib import changes, layer

FLAGS = {
    layer.FLAG_CODES[layer.ABSOLUTE]: gettext_lazy("absolute names (Docker strips the leading /)"),
    layer.FLAG_CODES[layer.CLAMPED]: gettext_lazy(
        "names climbing above the root with .. (clamped; Docker would refuse this layer)"
    ),
    layer.FLAG_CODES[layer.DUPLICATE]: gettext_lazy("the same path twice (the last entry wins)"),
    layer.FLAG_CODES[layer.SPARSE]: gettext_lazy("sparse files"),
    layer.FLAG_CODES[layer.DEVICE]: gettext_lazy("device nodes"),
    layer.FLAG_CODES[layer.ROOT_NAME]: gettext_lazy(
        "names that are the root itself (such as .. or x/..; skipped, as runtimes do)"
    ),
    layer.GZIP_PADDING: gettext_lazy(
        "zero padding after the gzip stream (ignored, as GNU gzip does; Go's gzip reader "
        "would refuse this layer)"
    ),
    layer.NO_END_MARKER: gettext_lazy("no end-of-archive marker (the tar just stops)"),
}
NOTES = {
    changes.WHITEOUT_FINDS_NOTHING: gettext_lazy(
        "whiteout for %(path)s deletes nothing (no such path below)"
    ),
}
