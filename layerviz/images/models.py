"""The index: images, their layers, every tar entry, and what each layer changed.

Identity follows the image spec (``image-format.md`` §3):

* a ``Layer`` is its uncompressed content, keyed by diff_id and stored once however many images
  or sources bring it; each compressed digest seen for it is a ``Blob``;
* a ``Chain`` is a layer on top of a given stack (chain ID). What a layer adds, modifies and
  deletes depends on the stack below, so what it did to each path (``DirChanges``, a directory
  at a time) hangs off the chain and is shared by every image built on that same stack;
* an ``Image`` is one manifest; ``Reference`` rows are the names it was ingested under.

Layers and chains are written in batches while being built and only become visible (state
``ready``) once complete and verified, so a reader never sees half an index and a killed worker
leaves nothing half-indexed behind (see ``claims.py``).
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from layerviz.lib import stored_text
from layerviz.lib.figures import Figures
from layerviz.lib.instructions import clean_instruction

from .fields import ImageJSONField, ImageTextField


class BuildState(models.TextChoices):
    BUILDING = "building", "building"
    READY = "ready", "ready"


class ClaimedQuerySet(models.QuerySet):
    def ready(self) -> ClaimedQuerySet:
        return self.filter(state=BuildState.READY)


class Claimed(models.Model):
    """Something one worker builds at a time; see ``claims.py`` for the protocol."""

    state = models.CharField(max_length=16, choices=BuildState.choices, default=BuildState.BUILDING)
    owner = models.CharField(max_length=120, blank=True)
    heartbeat_at = models.DateTimeField(null=True)

    objects = ClaimedQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_ready(self) -> bool:
        return self.state == BuildState.READY


class Lease(models.Model):
    """A running ingest's hold on a ready layer or chain it relies on, until its image is
    saved (then the image's own rows hold them); see ``claims.py``. ``delete_unused`` removes
    nothing a live lease holds."""

    owner = models.CharField(max_length=120, db_index=True, help_text="claims.new_owner()")
    heartbeat_at = models.DateTimeField()
    layer = models.ForeignKey("Layer", null=True, on_delete=models.CASCADE, related_name="leases")
    chain = models.ForeignKey("Chain", null=True, on_delete=models.CASCADE, related_name="leases")

    def __str__(self) -> str:
        return f"{self.owner} on {self.layer_id or self.chain_id}"


class Layer(Claimed):
    diff_id = models.CharField(max_length=140, unique=True)
    size = models.BigIntegerField(default=0, help_text="sum of entry sizes (dive's layer size)")
    tar_bytes = models.BigIntegerField(default=0, help_text="length of the uncompressed tar")
    entry_count = models.IntegerField(default=0)
    flags = ImageJSONField(default=list, blank=True)
    indexed_at = models.DateTimeField(null=True)
    gzip_estimate = models.BigIntegerField(
        null=True, help_text="its tar gzipped, estimated (lib/estimate) when read uncompressed"
    )

    def __str__(self) -> str:
        return self.diff_id

    @property
    def short_id(self) -> str:
        return self.diff_id.partition(":")[2][:12]


class Blob(models.Model):
    """A compressed (or not) blob that was read and verified to decompress to ``layer``."""

    digest = models.CharField(max_length=140, unique=True)
    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="blobs")
    size = models.BigIntegerField()
    compression = models.CharField(max_length=8)
    kept = models.BooleanField(
        default=False, help_text="its bytes are in the blob store (``images.contents``)"
    )

    def __str__(self) -> str:
        return self.digest


class EntryChunk(models.Model):
    """Consecutive tar entries of one layer, in tar order, exactly as the tar says: a few
    thousand entries packed column by column (``lib.layer.ENTRY_SCHEMA``, ``lib.packing``).

    One row per tar entry would cost ~250 bytes on disk and a slow insert each; packed, an
    entry costs ~40 bytes, most of them its content hash.
    """

    layer = models.ForeignKey(
        Layer, on_delete=models.CASCADE, related_name="entry_chunks", db_index=False
    )
    index = models.IntegerField(help_text="0, 1, … in tar order")
    first_seq = models.IntegerField(help_text="tar position (1-based) of the first entry")
    count = models.IntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["layer", "index"], name="entrychunk_layer_index")
        ]

    def __str__(self) -> str:
        return f"{self.layer_id}:{self.index}"


class Chain(Claimed):
    chain_id = models.CharField(max_length=140, unique=True)
    parent = models.ForeignKey("self", null=True, on_delete=models.CASCADE, related_name="children")
    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="chains")
    depth = models.IntegerField()
    added = models.IntegerField(default=0)
    modified = models.IntegerField(default=0)
    deleted = models.IntegerField(default=0)
    added_bytes = models.BigIntegerField(default=0)
    modified_bytes = models.BigIntegerField(default=0)
    deleted_bytes = models.BigIntegerField(default=0)
    total_bytes = models.BigIntegerField(default=0, help_text="merged filesystem as of this layer")
    total_files = models.IntegerField(default=0)
    notes = ImageJSONField(default=list, blank=True)

    def __str__(self) -> str:
        return self.chain_id


class DirChanges(models.Model):
    """What one layer, on its chain, did to the children of one directory (see
    ``lib/changes.py``): one row per directory, the children packed column by column
    (``lib.packed_changes.CHANGE_SCHEMA``), sorted by name.

    Every page lists one directory at a time, so one row is one listing of one layer; the
    merged view of a directory as of layer *k* is the rows of chains 0..*k* for it. ``names``
    keeps the children's names ("/"-joined: no name holds a "/") readable by the database, so
    that a path search filters rows there before any blob is unpacked.
    """

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="dirs", db_index=False)
    depth = models.SmallIntegerField(help_text="copy of chain.depth, for merged-view queries")
    dir = models.TextField(help_text="the directory, in the text form of lib.names (root: '')")
    names = models.TextField()
    kinds = models.TextField(help_text="the change kind of each name, a letter each")
    count = models.IntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain", "dir"], name="dirchanges_path")]

    def __str__(self) -> str:
        return f"{self.chain_id}:{self.dir or '/'}"


class ImageQuerySet(models.QuerySet):
    def with_names(self) -> ImageQuerySet:
        return self.prefetch_related("references")

    def newest(self) -> ImageQuerySet:
        """With their names, the most recently indexed first: how lists show images."""
        return self.with_names().order_by("-indexed_at")

    def search(self, text: str) -> ImageQuerySet:
        """Images one of whose names, whose manifest digest or whose image ID holds ``text``
        (every image when it is empty)."""
        if not text:
            return self
        return self.filter(
            models.Q(references__display__icontains=text)
            | models.Q(digest__icontains=text)
            | models.Q(image_id__icontains=text)
        ).distinct()


class Image(models.Model):
    digest = models.CharField(max_length=140, unique=True, help_text="manifest digest")
    manifest_synthesized = models.BooleanField(
        default=False, help_text="the source had no manifest; the digest is of one we computed"
    )
    index_digest = models.CharField(max_length=140, blank=True, db_index=True)
    image_id = models.CharField(max_length=140, db_index=True, help_text="config digest")
    media_type = models.CharField(max_length=120)
    os = models.CharField(max_length=40)
    architecture = models.CharField(max_length=40)
    variant = models.CharField(max_length=20, blank=True)
    created = models.DateTimeField(null=True)
    author = ImageTextField(blank=True)
    config = ImageJSONField(default=dict, blank=True)
    manifest = ImageJSONField(default=dict, blank=True)
    size = models.BigIntegerField(default=0, help_text="sum of its layers' sizes")
    compressed_size = models.BigIntegerField(
        default=0, help_text="its layers' download sizes (ImageLayer.download_size)"
    )
    compressed_estimated = models.BooleanField(
        default=False, help_text="some of compressed_size is an estimate"
    )
    layer_count = models.IntegerField(default=0)
    top_chain = models.ForeignKey(Chain, null=True, on_delete=models.PROTECT, related_name="+")
    source = ImageTextField(blank=True, help_text="where it was first ingested from")
    indexed_at = models.DateTimeField(auto_now_add=True)

    objects = ImageQuerySet.as_manager()

    def __str__(self) -> str:
        ref = self.references.first()
        return ref.display if ref else self.digest

    @property
    def platform(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    @property
    def short_id(self) -> str:
        return self.image_id.partition(":")[2][:12]

    @property
    def shown_config(self) -> dict[str, Any]:
        """The config as a page shows it: control characters escaped (``stored_text.visible``),
        so a hostile Env or Label is shown as it is, not as what it pretends to be."""
        return stored_text.visible_json(self.config)

    @property
    def names(self) -> list[str]:
        """The short names it is known by (as docker prints them)."""
        return [ref.display for ref in self.references.all()]

    @property
    def name(self) -> str:
        """How a page names it: its names, or its digest cut short when it has none."""
        return ", ".join(self.names) or self.short_digest

    @property
    def label(self) -> str:
        """A short name for where one word fits (a chart's axis, a column heading)."""
        names = self.names
        return names[0] if names else self.short_digest

    @property
    def short_digest(self) -> str:
        algorithm, _, encoded = self.digest.partition(":")
        return f"{algorithm}:{encoded[:12]}"

    def instructions(self) -> dict[int, str]:
        """The cleaned-up instruction that made each layer, by layer position."""
        return {
            step.position: clean_instruction(step.created_by)
            for step in self.history.all()
            if step.position is not None
        }

    def layers_in_order(self) -> models.QuerySet[ImageLayer]:
        return self.image_layers.select_related("layer", "chain").order_by("position")

    def chains(self) -> list[Chain]:
        """Its layers' chains, bottom first: what the filesystem functions take."""
        return [il.chain for il in self.layers_in_order()]


class ImageLayer(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="image_layers")
    position = models.IntegerField()
    layer = models.ForeignKey(Layer, on_delete=models.PROTECT, related_name="image_layers")
    chain = models.ForeignKey(Chain, on_delete=models.PROTECT, related_name="image_layers")
    blob_digest = models.CharField(max_length=140)
    blob_size = models.BigIntegerField()
    media_type = models.CharField(max_length=120)
    member = ImageTextField(blank=True, help_text="its name in the archive it came from, if any")
    download_size = models.BigIntegerField(
        null=True, help_text="what a registry would send: see images/downloads.py"
    )
    download_estimated = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "position"], name="imagelayer_position")
        ]
        ordering = ["position"]

    def __str__(self) -> str:
        return f"{self.image_id}#{self.position}"

    @property
    def download(self) -> int:
        """What pulling it downloads (``images/downloads.py``); the blob as read when that is
        unknown."""
        return self.blob_size if self.download_size is None else self.download_size


class HistoryStep(models.Model):
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="history")
    index = models.IntegerField()
    created = ImageTextField(blank=True)
    created_by = ImageTextField(blank=True)
    comment = ImageTextField(blank=True)
    author = ImageTextField(blank=True)
    empty_layer = models.BooleanField(default=False)
    position = models.IntegerField(null=True, help_text="the layer it made, if any")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["image", "index"], name="history_index")]
        ordering = ["index"]

    def __str__(self) -> str:
        return self.created_by


class Reference(models.Model):
    """A name an image was ingested under. Like a tag on a multi-platform image, a name holds
    one image per platform (so the amd64 and arm64 images of ``python:3.12`` both keep it);
    like a docker tag, it moves to the newest image of its platform."""

    name = models.CharField(max_length=400, help_text="fully normalised")
    platform = models.CharField(max_length=60, blank=True, default="")
    display = models.CharField(max_length=400, help_text="the short form docker prints")
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="references")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "platform"]
        constraints = [
            models.UniqueConstraint(fields=["name", "platform"], name="reference_per_platform")
        ]

    def __str__(self) -> str:
        return self.display


class JobState(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"
    FAILED = "failed", "failed"


class IngestJobQuerySet(models.QuerySet):
    RECENT_COUNT = 10
    RECENT_HOURS = 24

    def recent(self) -> IngestJobQuerySet:
        """What the image list shows of the jobs, newest first: every one still waiting or
        running, and those of the last day; at most ``RECENT_COUNT``, with the images made."""
        since = timezone.now() - dt.timedelta(hours=self.RECENT_HOURS)
        unfinished = models.Q(state__in=[JobState.QUEUED, JobState.RUNNING])
        jobs = self.filter(unfinished | models.Q(created_at__gte=since)).order_by(
            "-created_at", "-pk"
        )
        return jobs.prefetch_related(models.Prefetch("images", Image.objects.with_names()))[
            : self.RECENT_COUNT
        ]


class IngestJob(models.Model):
    """One request to ingest a source, with the progress a page can poll."""

    State = JobState  # for templates: {% if job.state == job.State.DONE %}

    source = ImageTextField()
    platform = models.CharField(max_length=60, blank=True)
    options = ImageJSONField(default=dict, blank=True)
    upload = ImageTextField(blank=True, help_text="path of an uploaded archive to delete after")
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.QUEUED)
    phase = models.CharField(max_length=20, blank=True, help_text="a code of progress.PHASE_WORDS")
    phase_args = ImageJSONField(default=dict, blank=True)
    layer_index = models.IntegerField(default=0)
    layer_count = models.IntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    error = ImageTextField(blank=True)
    images = models.ManyToManyField(Image, blank=True, related_name="jobs")
    task_id = models.CharField(max_length=64, blank=True)
    # The worker running it, as a claim's owner (``claims.py``), and its last sign of life:
    # how a job whose worker died is told from one still running (``jobs.py``).
    owner = models.CharField(max_length=120, blank=True)
    heartbeat_at = models.DateTimeField(null=True)
    attempts = models.IntegerField(default=0, help_text="runs started, retries included")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    objects = IngestJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.source} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED)

    @property
    def percent(self) -> int:
        if self.bytes_total <= 0:
            return 0
        return min(100, int(100 * self.bytes_done / self.bytes_total))


class WorkerBeatQuerySet(models.QuerySet):
    def alive(self) -> WorkerBeatQuerySet:
        """The workers heard from within ``WorkerBeat.silent_after()``."""
        return self.filter(beat_at__gte=timezone.now() - WorkerBeat.silent_after())


class WorkerBeat(models.Model):
    """A background worker's own sign of life, busy or idle (``workers.py``): a job's heartbeat
    only says a worker is alive while it runs that job, and ``/healthz`` must tell an idle
    worker from none."""

    name = models.CharField(max_length=64, unique=True, help_text="the worker's id in its queue")
    backend = models.CharField(max_length=20, help_text="the queue backend it takes work from")
    host = models.CharField(max_length=120, help_text="as a claim's owner names it")
    pid = models.IntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    beat_at = models.DateTimeField(default=timezone.now)

    objects = WorkerBeatQuerySet.as_manager()

    def __str__(self) -> str:
        return f"worker {self.name} (process {self.pid} on {self.host})"

    @staticmethod
    def silent_after() -> dt.timedelta:
        # Three missed beats: one late beat (a busy database) is not a dead worker.
        return dt.timedelta(seconds=3 * settings.LAYERVIZ_WORKER_BEAT_SECONDS)


class Analysis(models.Model):
    """Efficiency figures of one image, computed once (images do not change once indexed).

    ``dive`` holds dive v0.13.1's numbers, ``ours`` layerviz's own accounting, ``advice`` the
    findings, in the JSON of ``lib.figures.Figures``: read them as ``figures``. The
    inefficient-file list is in ``InefficientFile`` rows.
    """

    VERSION = 5  # bump when a computation changes, so stored analyses are redone

    image = models.OneToOneField(Image, on_delete=models.CASCADE, related_name="analysis")
    version = models.IntegerField(default=VERSION)
    computed_at = models.DateTimeField(auto_now=True)
    dive = models.JSONField(default=dict)
    ours = models.JSONField(default=dict)
    advice = ImageJSONField(default=list)
    # The setuid and setgid files of the final filesystem (``efficiency.privileged``): what a
    # reviewer looks for first, found once here rather than by walking every path per page.
    privileged = ImageJSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"analysis of {self.image_id}"

    @cached_property
    def figures(self) -> Figures:
        return Figures.from_json(self.dive, self.ours, self.advice)


class InefficientFile(models.Model):
    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="files")
    path = models.TextField()
    count = models.IntegerField()
    dive_bytes = models.BigIntegerField(help_text="dive's figure: every copy")
    reclaimable = models.BigIntegerField(help_text="ours: copies that do not survive")

    class Meta:
        indexes = [models.Index(fields=["analysis", "-dive_bytes"], name="inefficient_by_size")]

    def __str__(self) -> str:
        return self.path


class RecordedContainer(models.Model):
    """A container's writable layer as ``docker diff`` and the archive API once reported it
    (``manage.py record_container``), or as a lesson wrote it (``containers.record``): how the
    container pages make their point on a machine without a Docker engine.

    ``changes`` holds what the engine said, one ``{"path", "kind", "size", "type", "mode",
    "mtime"}`` per path; what it means against the image (``from_layer``, copy-ups) is worked
    out when shown, by the same code as for a live container (``containers.writable_layer``).
    """

    name = models.CharField(max_length=200, unique=True)
    container_id = models.CharField(max_length=80, blank=True, db_index=True)
    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="recorded_containers")
    state = models.CharField(max_length=20, blank=True)
    changes = ImageJSONField(default=list, blank=True)
    sizes_capped = models.BooleanField(
        default=False, help_text="some sizes were not read: more paths than archive reads allowed"
    )
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
