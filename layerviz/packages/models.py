from __future__ import annotations

from django.db import models


class CapturedFile(models.Model):
    """A package database file of a layer (``lib/package_files``), copied at ingest as the
    layer was read: what packages are read from, whether or not the layer's bytes are kept.
    ``data`` is None for a file too big to copy (``package_files.MAX_FILE_BYTES``)."""

    layer = models.ForeignKey(
        "images.Layer", on_delete=models.CASCADE, related_name="captured_files"
    )
    path = models.TextField(help_text="as the layer's entries give it (``lib.names``)")
    data = models.BinaryField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["layer", "path"], name="capturedfile_layer_path")
        ]

    def __str__(self) -> str:
        return f"{self.layer_id}:{self.path}"
