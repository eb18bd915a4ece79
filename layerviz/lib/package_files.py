"""Which files of a layer are package databases, kept at ingest so that packages can be read
from the index whether or not the layer's bytes are kept (``lib/blobstore``).

A package manager's database is small beside what it describes: dpkg's ``status`` and its file
lists, apk's ``installed``, rpm's sqlite database, each Python distribution's metadata and each
npm package's ``package.json``. They are copied while the layer is read (``layer.scan_layer``),
so reading them costs no second pass over the blob.
"""

from __future__ import annotations

import re

# One file larger than this is not kept (an rpm database of a big distribution is ~30 MB).
MAX_FILE_BYTES = 64 * 1024**2
# Nor more than this from one layer, whatever the number of files.
MAX_LAYER_BYTES = 256 * 1024**2

_EXACT = frozenset(
    {
        b"var/lib/dpkg/status",
        b"lib/apk/db/installed",
        b"var/lib/rpm/rpmdb.sqlite",
        b"usr/lib/sysimage/rpm/rpmdb.sqlite",
        # Which distribution the system packages are of: the namespace of their package URLs.
        b"etc/os-release",
        b"usr/lib/os-release",
    }
)
_PATTERN = re.compile(
    rb"""(?x)
    ^var/lib/dpkg/status\.d/[^/]+$                         # distroless: one file per package
    | ^var/lib/dpkg/info/[^/]+\.list$                      # dpkg: each package's files
    | (?:^|/)[^/]+\.dist-info/(?:METADATA|RECORD)$          # Python wheels installed
    | (?:^|/)[^/]+\.egg-info(?:/(?:PKG-INFO|installed-files\.txt|SOURCES\.txt))?$
    | (?:^|/)node_modules/(?:@[^/]+/)?[^/@][^/]*/package\.json$   # npm: a package's root
    """
)


def wanted(path: bytes) -> bool:
    """Is this clean tar path (``names.clean``: no leading ``./`` or ``/``) a file that a
    package database consists of?"""
    return path in _EXACT or _PATTERN.search(path) is not None
