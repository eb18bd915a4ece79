"""Finding an indexed image from whatever a person types: ``python``, ``lv/app:1.0``,
``127.0.0.1:5000/lv/app@sha256:…``, a manifest digest, an image ID or a unique hex prefix."""

from __future__ import annotations

import re

from django.db.models import Q
from django.utils.translation import gettext as _

from layerviz.lib import oci
from layerviz.lib import reference as refs

from .models import Image, Reference

_HEX_PREFIX = re.compile(r"^(?:sha256:)?([0-9a-f]{6,64})$")


class ImageNotFound(LookupError):
    pass


def find_image(text: str) -> Image:
    text = text.strip()
    match = _HEX_PREFIX.match(text)
    if match:
        hexpart = match.group(1)
        if len(hexpart) == 64:
            digest = f"sha256:{hexpart}"
            found = Image.objects.filter(
                Q(digest=digest) | Q(index_digest=digest) | Q(image_id=digest)
            ).order_by("-indexed_at")
            image = found.first()
            if image is not None:
                return image
            ref = (
                Reference.objects.filter(name__endswith=f"@{digest}")
                .select_related("image")
                .first()
            )
            if ref is not None:
                return ref.image
        else:
            prefix = f"sha256:{hexpart}"
            matches = list(
                Image.objects.filter(
                    Q(digest__startswith=prefix) | Q(image_id__startswith=prefix)
                ).distinct()[:2]
            )
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise ImageNotFound(
                    _("%(ref)s matches more than one image; give more digits") % {"ref": repr(text)}
                )
    try:
        name = refs.normalize(text)
    except ValueError as exc:
        if match:
            raise ImageNotFound(
                _("No indexed image matches %(ref)s.") % {"ref": repr(text)}
            ) from None
        raise ImageNotFound(str(exc)) from None
    named = list(Reference.objects.filter(name=name).select_related("image"))
    if not named:
        raise ImageNotFound(_("No indexed image is named %(ref)s.") % {"ref": repr(text)})
    # A name held by several platforms means this machine's, as docker pull would pick;
    # failing that, the image most recently given the name.
    host = str(oci.host_platform())
    return max(named, key=lambda ref: (ref.platform == host, ref.updated_at)).image
