"""The words of each kind of advice and waste (``lib/advice.py`` findings and ``lib/waste.py``
reasons carry only a code and data)."""

from __future__ import annotations

from typing import NamedTuple

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from layerviz.lib import waste


class Words(NamedTuple):
    title: Promise
    why: Promise  # why it matters
    fix: Promise  # what to do


# why the copies a later layer undid were wasted
REASONS = {
    waste.DELETED: _("deleted later"),
    waste.OVERWRITTEN: _("overwritten later"),
    waste.IDENTICAL: _("copied again, byte for byte"),
    waste.METADATA: _("rewritten for mode/owner only"),
}

# code -> (title, why it matters, what to do)
_ADVICE = {
    "cache_apt": (
        _("APT package lists and archives left in the image"),
        _(
            "apt-get keeps the package lists and downloaded .deb files; the running container never needs them."
        ),
        _(
            "Remove them in the same RUN step: apt-get update && apt-get install -y … && rm -rf /var/lib/apt/lists/*"
        ),
    ),
    "cache_pip": (
        _("pip's download cache left in the image"),
        _("pip caches every wheel it downloads under ~/.cache/pip."),
        _(
            "Install with pip install --no-cache-dir, or mount the cache with RUN --mount=type=cache."
        ),
    ),
    "cache_npm": (
        _("npm or yarn cache left in the image"),
        _("npm and yarn keep a copy of every package tarball they fetched."),
        _("Run npm ci && npm cache clean --force (or yarn cache clean) in the same step."),
    ),
    "cache_apk": (
        _("apk package cache left in the image"),
        _("apk keeps downloaded packages in /var/cache/apk."),
        _("Use apk add --no-cache."),
    ),
    "cache_yum": (
        _("yum/dnf cache left in the image"),
        _("yum and dnf keep metadata and packages in /var/cache."),
        _("Run yum clean all (or dnf clean all) in the same step as the install."),
    ),
    "deleted_later": (
        _("Files added in one step and deleted in a later one"),
        _(
            "Deleting a file in a later layer hides it but does not remove its bytes: they are still stored and pulled with the earlier layer."
        ),
        _("Merge these steps into one RUN, so the files are deleted before the layer is written."),
    ),
    "copied_then_deleted": (
        _("Files copied in and deleted by a later step"),
        _(
            "A COPY or ADD stored these files in its layer; deleting them later hides them but they are still stored and pulled."
        ),
        _(
            "Leave them out of the build context with a .dockerignore, or copy only the files the image needs."
        ),
    ),
    "context_junk": (
        _("Build-context clutter copied into the image"),
        _("Version-control data, caches and editor files were copied in with COPY/ADD."),
        _("List them in a .dockerignore file."),
    ),
    "secrets": (
        _("Files that look like secrets"),
        _(
            "Keys, tokens and credentials in an image can be read by anyone who can pull it, even when a later layer deletes them."
        ),
        _(
            "Keep them out of the build context (.dockerignore) and pass secrets with RUN --mount=type=secret."
        ),
    ),
    "toolchain": (
        _("A build toolchain ships in the final image"),
        _("Compilers, headers and build tools are needed to build, not to run."),
        _("Use a multi-stage build: compile in one stage, COPY --from it only what runs."),
    ),
    "chmod_step": (
        _("chmod/chown in a step of its own copies every file it touches"),
        _(
            "Changing only the mode or owner writes a whole new copy of each file into the new layer."
        ),
        _(
            "Set mode and owner while copying: COPY --chmod=… --chown=… (or chmod in the same RUN that creates the files)."
        ),
    ),
    "metadata_rewrite": (
        _("Files rewritten with only their metadata changed"),
        _(
            "A later layer stored these files again with the same content and new mode, owner or times."
        ),
        _("Create the files with their final metadata in one step."),
    ),
    "tiny_layers": (
        _("Many tiny layers"),
        _(
            "Each layer costs a download request and a mount; layers of a few bytes add that cost for nothing."
        ),
        _("Combine related RUN steps with && and COPY related files together."),
    ),
    "cache_order": (
        _("Dependencies installed after the whole source is copied"),
        _(
            "Any change to any source file invalidates the build cache from the COPY on, so the dependencies are installed again on every build."
        ),
        _(
            "Copy only the dependency manifest (requirements.txt, package.json…) first, install, then copy the rest."
        ),
    ),
}
ADVICE = {code: Words(*words) for code, words in _ADVICE.items()}
