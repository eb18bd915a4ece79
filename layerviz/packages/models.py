from __future__ import annotations

import zlib

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


class PackageScan(models.Model):
    """That an image's packages were worked out (``scan.scan``), at which ``VERSION`` of the
    computation, and the databases that could not be read: ``problems`` holds one
    ``{"path", "layer" (0-based), "ecosystem", "message"}`` per unreadable database."""

    VERSION = 1  # bump when the computation changes, so stored scans are redone

    image = models.OneToOneField(
        "images.Image", on_delete=models.CASCADE, related_name="package_scan"
    )
    version = models.IntegerField(default=VERSION)
    computed_at = models.DateTimeField(auto_now=True)
    problems = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"packages of {self.image_id}"


class ImagePackageQuerySet(models.QuerySet):
    def shipped(self) -> ImagePackageQuerySet:
        """The versions installed in the image's final filesystem."""
        return self.filter(gone_at__isnull=True)

    def hidden(self) -> ImagePackageQuerySet:
        """Installed in the final filesystem, with files a later layer hid whose bytes still
        ship below it."""
        return self.shipped().filter(hidden_bytes__gt=0)

    def of_version(self, name: str, version: str = "") -> ImagePackageQuerySet:
        """Every image's rows of package ``name`` (at ``version``, when given): one indexed
        lookup on (name, version)."""
        rows = self.filter(name=name)
        return rows.filter(version=version) if version else rows

    def added_in(self, position: int) -> ImagePackageQuerySet:
        return self.filter(layer=position)

    def removed_in(self, position: int) -> ImagePackageQuerySet:
        return self.filter(gone_at=position, gone_how=ImagePackage.REMOVED)


class ImagePackage(models.Model):
    """One version of one package in one image: the layer that installed it and, if it did
    not last to the top, the layer where it was upgraded or removed.

    A package whose version changed has one row per version: the old row's ``gone_at`` is the
    upgrading layer (``gone_how`` "upgraded"), the new row's ``layer`` is the same layer, with
    ``previous`` the version it replaced. Layers are 0-based positions (``ImageLayer.position``).

    For fleet questions, ``ImagePackage.objects.of_version("openssl", "3.0.11").shipped()``
    gives the images shipping a version (``values("image")``), one query on the (name, version)
    index; without ``.shipped()`` it also finds the images that installed it and then upgraded
    or removed it, whose bytes still ship in the lower layer. ``hidden_bytes > 0`` with
    ``gone_at`` None is a package still installed whose files a later layer deleted or
    replaced: those bytes still ship too. ``name`` is as the database spells it (Python's as
    METADATA does; ``normalized`` is PEP 503's form, for lookups).
    """

    UPGRADED, REMOVED = "upgraded", "removed"

    image = models.ForeignKey("images.Image", on_delete=models.CASCADE, related_name="packages")
    ecosystem = models.CharField(max_length=8, help_text="dpkg, apk, rpm, python, npm")
    name = models.TextField()
    normalized = models.TextField(help_text="the name as its ecosystem compares names")
    version = models.TextField()
    arch = models.CharField(max_length=32, blank=True)
    location = models.TextField(help_text="the database, or the directory holding it")
    source = models.TextField(help_text="the database file it was read from")
    license = models.TextField(blank=True)
    purl = models.TextField(blank=True)
    layer = models.IntegerField(help_text="position of the layer that installed this version")
    previous = models.TextField(blank=True, help_text="the version this one replaced, if any")
    gone_at = models.IntegerField(null=True, help_text="position of the layer that ended it")
    gone_how = models.CharField(max_length=8, blank=True, help_text="upgraded or removed")
    installed_size = models.BigIntegerField(null=True, help_text="as its database records it")
    files = models.IntegerField(default=0, help_text="its files (not directories) present")
    bytes = models.BigIntegerField(default=0, help_text="their sizes as installed")
    hidden_bytes = models.BigIntegerField(
        default=0, help_text="of those, bytes a later layer deleted or replaced"
    )
    file_list = models.BinaryField(help_text="its paths, zlib-compressed, one a line")

    objects = ImagePackageQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["name", "version"], name="imagepackage_name_version"),
            models.Index(fields=["normalized", "version"], name="imagepackage_norm_version"),
            models.Index(fields=["image", "layer"], name="imagepackage_image_layer"),
        ]

    def __str__(self) -> str:
        return f"{self.ecosystem}:{self.name}@{self.version}"

    @property
    def size(self) -> int:
        """What the packages view shows and sorts by: the recorded installed size, else the
        bytes of its files."""
        return self.installed_size if self.installed_size is not None else self.bytes

    @property
    def hidden_but_shipped(self) -> bool:
        return self.gone_at is None and self.hidden_bytes > 0

    def paths(self) -> list[str]:
        data = bytes(self.file_list)
        return zlib.decompress(data).decode().split("\n") if data else []
