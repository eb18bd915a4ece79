"""The one exception family an ingest raises, worded for the person who asked for it."""

from __future__ import annotations


class IngestError(Exception):
    """An image could not be read or indexed. ``str()`` is a complete one-line message.

    ``layer`` names the layer involved ("layer 3/7 sha256:ab12…") when there is one, so the
    message says where the problem is, not only what it is.
    """

    def __init__(self, message: str, *, layer: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.layer = layer

    def __str__(self) -> str:
        if self.layer:
            return f"{self.layer}: {self.message}"
        return self.message

    def in_layer(self, layer: str) -> IngestError:
        """Attach the layer name unless a more precise one is already there."""
        if not self.layer:
            self.layer = layer
        return self


class FormatError(IngestError):
    """The bytes are not a valid archive, layout, manifest, config or layer."""


class DigestMismatch(IngestError):
    """Content does not hash to the digest (or size) that names it."""


class LimitExceeded(IngestError):
    """The input is larger or deeper than the configured caps allow."""


class Unsupported(IngestError):
    """Valid input that layerviz does not index (artifacts, encrypted layers, schema 1)."""


class SourceError(IngestError):
    """The source could not be reached or refused (engine down, registry said no, no file)."""


class ConfigError(IngestError, ValueError):
    """A setting (``LAYERVIZ_MAX_*``, say) holds a value layerviz cannot use."""
