"""Sharing across the whole store: the tree of chains, shared bytes, totals, pull plans.

Every image's layers form a path in one tree: the root is the empty filesystem, each node is a
chain (a layer on its parent chain), and an image hangs off its top chain. Images share exactly
the nodes on the common part of their paths; the shared bytes of two images are the bytes on
the path from the root to their lowest common node.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from django.db import OperationalError
from django.db.models import Count, Q, QuerySet, Sum

from layerviz.lib.instructions import clean_instruction

from .models import Chain, HistoryStep, Image, ImageLayer, Layer


@dataclasses.dataclass
class ChainNode:
    chain_id: str
    pk: int
    parent: int | None  # parent chain pk
    depth: int
    layer_id: int
    diff_id: str
    size: int
    compressed: int
    images: set[int] = dataclasses.field(default_factory=set)  # images using this chain
    tops: list[int] = dataclasses.field(default_factory=list)  # images whose top chain it is
    instruction: str = ""  # the step that made it, as one of its images records it

    @property
    def shared(self) -> bool:
        return len(self.images) > 1


@dataclasses.dataclass
class Forest:
    nodes: dict[int, ChainNode]
    images: list[Image]
    lineage: dict[int, list[int]]  # image pk -> chain pks bottom to top


def forest(images: list[Image]) -> Forest:
    """The chain tree of ``images`` (one query for all their layers)."""
    rows = (
        ImageLayer.objects.filter(image__in=images)
        .select_related("chain", "layer")
        .order_by("image_id", "position")
    )
    nodes: dict[int, ChainNode] = {}
    lineage: dict[int, list[int]] = defaultdict(list)
    for il in rows:
        node = nodes.get(il.chain_id)
        if node is None:
            node = nodes[il.chain_id] = ChainNode(
                chain_id=il.chain.chain_id,
                pk=il.chain_id,
                parent=il.chain.parent_id,
                depth=il.chain.depth,
                layer_id=il.layer_id,
                diff_id=il.layer.diff_id,
                size=il.layer.size,
                compressed=il.download,
            )
        node.images.add(il.image_id)
        lineage[il.image_id].append(il.chain_id)
    for image_pk, chains in lineage.items():
        nodes[chains[-1]].tops.append(image_pk)
    steps = HistoryStep.objects.filter(image__in=images, position__isnull=False)
    for image_pk, position, created_by in steps.values_list("image_id", "position", "created_by"):
        chains = lineage.get(image_pk, [])
        if (
            position is not None
            and position < len(chains)
            and not nodes[chains[position]].instruction
        ):
            nodes[chains[position]].instruction = clean_instruction(created_by)
    return Forest(nodes, images, dict(lineage))


def shared_bytes(f: Forest, a: int, b: int) -> int:
    """Bytes images ``a`` and ``b`` share: their common prefix of chains."""
    total = 0
    for x, y in zip(f.lineage.get(a, []), f.lineage.get(b, []), strict=False):
        if x != y:
            break
        total += f.nodes[x].size
    return total


def matrix(f: Forest, images: list[Image] | None = None) -> list[list[int]]:
    """Shared bytes of every two of ``images`` (all of the forest's by default)."""
    ids = [image.pk for image in (f.images if images is None else images)]
    out = []
    for a in ids:
        out.append(
            [
                shared_bytes(f, a, b)
                if a != b
                else sum(f.nodes[c].size for c in f.lineage.get(a, []))
                for b in ids
            ]
        )
    return out


def most_sharing(f: Forest, limit: int) -> list[Image]:
    """The ``limit`` images that share the most bytes with the others, ordered so that images
    on a common base sit next to each other.

    An image shares a chain's bytes with each other image using that chain, so its score is a
    walk down its own lineage rather than a row of the matrix."""

    def score(image: Image) -> int:
        chains = f.lineage.get(image.pk, [])
        return sum(f.nodes[c].size * (len(f.nodes[c].images) - 1) for c in chains)

    chosen = sorted(f.images, key=score, reverse=True)[:limit]
    return sorted(chosen, key=lambda image: f.lineage.get(image.pk, []))


@dataclasses.dataclass
class Totals:
    """Sharing means two things, both true in different places. A registry stores each blob
    once, so the same layer content is stored once whatever it sits on (``stored_bytes``). A
    Docker host unpacks a layer once per chain (the same content on another parent is unpacked
    again), so it stores each chain once (``stored_bytes_by_chain``)."""

    images: int
    layers: int
    logical_bytes: int
    stored_bytes: int
    chains: int = 0
    stored_bytes_by_chain: int = 0

    @property
    def saved_bytes(self) -> int:
        return self.logical_bytes - self.stored_bytes

    @property
    def saved_bytes_by_chain(self) -> int:
        return self.logical_bytes - self.stored_bytes_by_chain


def _links(images: QuerySet[Image] | list[Image] | None) -> QuerySet[ImageLayer]:
    """The layer links of ``images``: of the whole store when None. A queryset stays a subquery,
    so a selection of any size is counted in the database."""
    return (
        ImageLayer.objects.all() if images is None else ImageLayer.objects.filter(image__in=images)
    )


def exact_sum(rows: QuerySet, field: str) -> int:
    """The sum of a size column, exact however large.

    PostgreSQL sums bigints as numeric, exactly. SQLite's SUM stops at 2**63 with "integer
    overflow", which apparent sizes reach: each image's sum stays below it (``lib.layer`` caps a
    layer's share), but a store's sum over images need not. Then Python adds them, exactly.
    """
    try:
        return int(rows.aggregate(total=Sum(field))["total"] or 0)
    except OperationalError as exc:
        if "overflow" not in str(exc):
            raise
        return sum(rows.values_list(field, flat=True))


def totals(images: QuerySet[Image] | list[Image] | None = None) -> Totals:
    """Logical size (every image counted in full) against stored size (each layer once)."""
    links = _links(images)
    logical = exact_sum(links, "layer__size")
    layer_ids = links.values("layer_id").distinct()
    stored = exact_sum(Layer.objects.filter(pk__in=layer_ids), "size")
    chains = Chain.objects.filter(pk__in=links.values("chain_id").distinct())
    by_chain = exact_sum(chains, "layer__size")
    if images is None:
        image_count = Image.objects.count()
    elif isinstance(images, QuerySet):
        image_count = images.count()
    else:
        image_count = len(images)
    return Totals(
        images=image_count,
        layers=Layer.objects.filter(pk__in=layer_ids).count(),
        logical_bytes=logical,
        stored_bytes=stored,
        chains=chains.count(),
        stored_bytes_by_chain=by_chain,
    )


def layer_usage(
    images: QuerySet[Image] | list[Image] | None = None, *, limit: int = 20
) -> tuple[list, list]:
    """The most-shared layers, and the layers only one image uses (biggest first)."""
    links = _links(images)
    usage = (
        Layer.objects.filter(pk__in=links.values("layer_id"))
        .annotate(
            users=Count("image_layers__image", filter=Q(image_layers__in=links), distinct=True)
        )
        .order_by("-users", "-size")
    )
    most = [layer for layer in usage[:limit] if layer.users > 1]
    single = list(usage.filter(users=1).order_by("-size")[:limit])
    return most, single


def images_per_layer(layer_ids: list[int]) -> dict[int, int]:
    """How many images hold each of these layers (by content, on any base): one query."""
    rows = (
        ImageLayer.objects.filter(layer_id__in=layer_ids)
        .values("layer_id")
        .annotate(n=Count("image", distinct=True))
    )
    return {row["layer_id"]: row["n"] for row in rows}


@dataclasses.dataclass
class SharedChain:
    chain: Chain
    images: list[Image]


def shared_chains(
    images: QuerySet[Image] | list[Image] | None = None, *, limit: int = 20
) -> list[SharedChain]:
    """The chains more than one image holds (what a Docker host stores once for all of them),
    most used and biggest first, each with its images."""
    links = _links(images)
    usage = (
        Chain.objects.filter(pk__in=links.values("chain_id"))
        .annotate(
            users=Count("image_layers__image", filter=Q(image_layers__in=links), distinct=True)
        )
        .filter(users__gt=1)
        .select_related("layer")
        .order_by("-users", "-layer__size", "chain_id")[:limit]
    )
    chosen = list(usage)
    holders: dict[int, list[Image]] = defaultdict(list)
    for il in links.filter(chain__in=chosen).select_related("image").order_by("image__pk"):
        holders[il.chain_id].append(il.image)
    return [SharedChain(chain, holders[chain.pk]) for chain in chosen]


@dataclasses.dataclass
class PullStep:
    position: int
    link: ImageLayer
    have: bool


@dataclasses.dataclass
class PullPlan:
    steps: list[PullStep]  # the target's layers, bottom first

    @property
    def download(self) -> int:
        """Bytes to download: the compressed blobs of the layers the host lacks."""
        return sum(s.link.download for s in self.steps if not s.have)

    @property
    def total(self) -> int:
        """Bytes of the whole image's blobs, what a host with nothing downloads."""
        return sum(s.link.download for s in self.steps)


def pull_plan(have: list[Image], target: Image) -> PullPlan:
    """Which of ``target``'s layers a host holding ``have`` must download, and the bytes.

    A layer is on the host when one of its images has the same chain (the same layer on the
    same parent), which is how an engine keys the layers it has unpacked.
    """
    on_host = set(ImageLayer.objects.filter(image__in=have).values_list("chain_id", flat=True))
    return PullPlan(
        [PullStep(il.position, il, il.chain_id in on_host) for il in target.layers_in_order()]
    )
