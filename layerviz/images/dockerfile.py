"""An image's history read back as the Dockerfile that built it, and the build cache's answer
to "what if this step changed?".

The Dockerfile is the history's ``created_by`` lines cleaned (``lib.instructions``): the shell
wrapper unwrapped, ``#(nop)`` and ``# buildkit`` dropped. Its ``FROM`` is the image in the store
whose whole chain this image extends (the longest such), whose own steps are then left out; an
image whose first step adds files to an empty filesystem was built ``FROM scratch``.

The build cache keys each step on its parent (everything before it), its instruction and, for
``COPY``/``ADD``, the content of the files copied. So changing a step rebuilds it and every step
after it: their parents changed. The steps before it are reused as they are.
"""

from __future__ import annotations

import dataclasses

from layerviz.lib.instructions import clean_instruction, keyword

from .models import HistoryStep, Image, ImageLayer

REUSED, REBUILT = "reused", "rebuilt"


@dataclasses.dataclass
class Line:
    step: int  # 1-based, in history order: the number a page and a link use
    text: str  # as it would be written in a Dockerfile
    keyword: str
    layer: ImageLayer | None  # the layer it made; None for a metadata-only step
    inherited: bool = False  # one of the FROM image's own steps
    cache: str = ""  # REUSED or REBUILT once a step is changed

    @property
    def number(self) -> int | None:
        """The 1-based layer number the pages show, or None for a metadata-only step."""
        return None if self.layer is None else self.layer.position + 1


@dataclasses.dataclass
class Dockerfile:
    image: Image
    base: Image | None  # FROM this image, held in the store
    scratch: bool  # FROM scratch: the first step put files on an empty filesystem
    lines: list[Line]

    @property
    def own(self) -> list[Line]:
        return [line for line in self.lines if not line.inherited]

    def from_line(self) -> str:
        if self.base is not None:
            return f"FROM {self.base.label}"
        return "FROM scratch" if self.scratch else ""

    def text(self) -> str:
        """The Dockerfile as text: what ``/api/images/REF/dockerfile`` answers."""
        head = self.from_line()
        body = [line.text for line in self.own] if self.base else [ln.text for ln in self.lines]
        if not head:
            head = "# FROM: the base image is not in this store; its steps are the first below"
        return "\n".join([head, *body]) + "\n"


def reconstruct(image: Image) -> Dockerfile:
    layers = {il.position: il for il in image.layers_in_order()}
    steps = list(image.history.all())
    lines = []
    for number, step in enumerate(steps, start=1):
        text = clean_instruction(step.created_by) or _comment(step)
        layer = layers.get(step.position) if step.position is not None else None
        lines.append(Line(number, text, keyword(text), layer))
    base = _base(image)
    if base is not None:
        for line in lines[: _inherited_steps(base, steps)]:
            line.inherited = True
    first = next((line for line in lines if line.layer is not None), None)
    scratch = (
        base is None
        and first is not None
        and first.layer is not None
        and first.layer.position == 0
        and first.keyword in ("ADD", "COPY")
    )
    return Dockerfile(image, base, scratch, lines)


def _comment(step: HistoryStep) -> str:
    # ``docker import`` and some tools record a comment and no command.
    return f"# {step.comment}" if step.comment else "# (no instruction recorded)"


def _base(image: Image) -> Image | None:
    """The image in the store with the most layers whose top chain is one of this image's
    chains below its top: this image was built on it (or on an image with its layers)."""
    # Every layer of an image but its top: the top chain is the image itself.
    chains = image.image_layers.filter(position__lt=image.layer_count - 1).values("chain_id")
    return (
        Image.objects.filter(top_chain_id__in=chains, layer_count__lt=image.layer_count)
        .exclude(pk=image.pk)
        .order_by("-layer_count", "-indexed_at")
        .first()
    )


def _inherited_steps(base: Image, steps: list[HistoryStep]) -> int:
    """How many of the first steps are the base's own: its history, when this image's history
    starts with it, else every step up to the one that made the base's top layer."""
    own = list(base.history.values_list("created_by", flat=True))
    if own and [step.created_by for step in steps[: len(own)]] == own:
        return len(own)
    top = base.layer_count - 1
    for index, step in enumerate(steps):
        if step.position == top:
            return index + 1
    return 0


@dataclasses.dataclass
class WhatIf:
    """The build cache's answer when step ``changed`` (1-based) changes."""

    dockerfile: Dockerfile
    changed: Line
    reused: list[ImageLayer]
    rebuilt: list[ImageLayer]

    @property
    def rebuild_bytes(self) -> int:
        """Bytes the builder writes again: the rebuilt layers' files."""
        return sum(il.layer.size for il in self.rebuilt)

    @property
    def push_bytes(self) -> int:
        """Bytes a push uploads, and a host holding the old image downloads: every rebuilt
        layer is new to the registry (its parent changed, so its chain did, whatever it
        holds), compressed as a registry sends it (``ImageLayer.download``)."""
        return sum(il.download for il in self.rebuilt)

    @property
    def push_estimated(self) -> bool:
        return any(il.download_estimated for il in self.rebuilt)


def what_if(dockerfile: Dockerfile, step: int) -> WhatIf:
    """Step ``step`` (1-based, of ``dockerfile.lines``) changed: it and every step after it are
    rebuilt, the steps before it come from the cache. Marks the lines, too."""
    changed = dockerfile.lines[step - 1]
    reused: list[ImageLayer] = []
    rebuilt: list[ImageLayer] = []
    for line in dockerfile.lines:
        line.cache = REUSED if line.step < step else REBUILT
        if line.layer is not None:
            (reused if line.cache == REUSED else rebuilt).append(line.layer)
    # Layers no history step accounts for sit below every step: always reused.
    accounted = {il.pk for il in reused + rebuilt}
    below = [il for il in dockerfile.image.layers_in_order() if il.pk not in accounted]
    return WhatIf(dockerfile, changed, below + reused, rebuilt)


def step_of_layer(dockerfile: Dockerfile, number: int) -> int | None:
    """The 1-based step that made layer ``number`` (1-based), if the history says."""
    return next((line.step for line in dockerfile.lines if line.number == number), None)


def rebuilt_between(old: Image, new: Image) -> list[int]:
    """The 1-based layer numbers of ``new`` that ``old`` does not hold on the same parents:
    what a rebuild from ``old`` really rebuilt (a cache hit keeps the chain)."""
    held = set(old.image_layers.values_list("chain_id", flat=True))
    return [il.position + 1 for il in new.layers_in_order() if il.chain_id not in held]


def first_changed_step(old: Image, new: Image) -> int | None:
    """The 1-based step of ``new`` whose recorded instruction first differs from ``old``'s: a
    changed instruction, or a COPY whose hash of what it copied changed."""
    pairs = zip(old.history.all(), new.history.all(), strict=False)
    return next(
        (n for n, (a, b) in enumerate(pairs, start=1) if a.created_by != b.created_by), None
    )
