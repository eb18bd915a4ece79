"""Image sources, named with the transports skopeo users know.

==========================  ====================================================
``docker-archive:PATH[:REF]``  a ``docker save`` tarball (any Docker version)
``oci-archive:PATH[:REF]``     an OCI image layout in a tar
``oci:DIR[:REF]``              an OCI image layout directory
``docker-daemon:REF``          an image in the local Docker engine
``docker://REF``               an image in a registry, no engine needed
==========================  ====================================================

Each transport is one module (``docker_archive``, ``oci_layout``, ``docker_daemon``,
``registry``) subclassing ``base.Source``, whose module docstring is the interface: the methods
every source defines and the optional hooks, with their defaults. ``open_source`` picks the
module by transport. What the archive and layout sources share lives beside them: ``archive``
(a tar file on disk, read in place or streamed), ``files`` (the files of an archive or layout)
and ``layouts`` (the images those files hold).
"""

from __future__ import annotations

import os

from layerviz.lib.errors import SourceError

from .base import LayerRef, ResolvedImage, Source, SourceOptions

__all__ = [
    "PATH_TRANSPORTS",
    "LayerRef",
    "ResolvedImage",
    "Source",
    "SourceOptions",
    "open_source",
    "parse_spec",
    "split_spec",
    "transport_named",
]

TRANSPORTS = ("docker-archive", "oci-archive", "oci", "docker-daemon", "docker")
# Those that read a file or directory on this machine: given by whoever runs the command, never
# by a web page (the web form takes uploads instead; explorer/forms.py).
PATH_TRANSPORTS = ("docker-archive", "oci-archive", "oci")


def transport_named(text: str) -> str | None:
    """The transport ``text`` starts with when it is written as a source spec, else None.

    ``docker`` counts only as ``docker://``: ``docker:24-dind`` is the image of that name.
    """
    if text.startswith("docker://"):
        return "docker"
    transport, sep, _ = text.partition(":")
    return transport if sep and transport in TRANSPORTS and transport != "docker" else None


def split_spec(spec: str) -> tuple[str, str]:
    """``"docker-archive:/x.tar:lv/app:1.0"`` -> ``("docker-archive", "/x.tar:lv/app:1.0")``:
    the transport and what it reads, without looking at the disk."""
    transport = transport_named(spec)
    if transport is None:
        raise SourceError(
            f"unknown source {spec!r}: use docker-archive:PATH, oci-archive:PATH, oci:DIR, "
            "docker-daemon:REF or docker://REF"
        )
    rest = spec.removeprefix("docker://") if transport == "docker" else spec.partition(":")[2]
    if not rest:
        raise SourceError(f"source {spec!r} names nothing after {transport}:")
    if transport == "docker-daemon":
        rest = rest.removeprefix("//")
    return transport, rest


def parse_spec(spec: str) -> tuple[str, str, str | None]:
    """``"docker-archive:/x.tar:lv/app:1.0"`` -> ``("docker-archive", "/x.tar", "lv/app:1.0")``."""
    transport, rest = split_spec(spec)
    if transport not in PATH_TRANSPORTS:
        return transport, rest, None
    # PATH may itself contain colons: the longest prefix that exists is the path.
    if os.path.exists(rest):
        return transport, rest, None
    for i in range(len(rest) - 1, 0, -1):
        if rest[i] == ":" and os.path.exists(rest[:i]):
            return transport, rest[:i], rest[i + 1 :] or None
    return transport, rest, None


def open_source(spec: str, options: SourceOptions | None = None) -> Source:
    options = options or SourceOptions()
    transport, target, want = parse_spec(spec)
    if transport == "docker-archive":
        from .docker_archive import DockerArchiveSource

        return DockerArchiveSource(spec, options, target, want)
    if transport == "oci-archive":
        from .oci_layout import OciArchiveSource

        return OciArchiveSource(spec, options, target, want)
    if transport == "oci":
        from .oci_layout import OciDirSource

        return OciDirSource(spec, options, target, want)
    if transport == "docker-daemon":
        from .docker_daemon import DaemonSource

        return DaemonSource(spec, options, target)
    from .registry import RegistrySource

    return RegistrySource(spec, options, target)
