"""An image's chains, bottom to top: what each layer did on the stack below it.

A chain (a layer on a given stack, keyed by chain ID) is shared by every image built on that
stack, so most are already indexed. For the first missing one the merged view of the chains
below is rebuilt from their stored rows (``MergedTree.replay``); from there each new chain is
the next layer applied to it (``MergedTree.apply_layer``), its rows written under a claimed
``Chain`` row that becomes ready at the end (``claims.py``).

``ChainBuilder.add`` takes the layers in order as they become ready, so an ingest reading
layers in worker processes builds the lower chains while the upper layers are still read.
"""

from __future__ import annotations

from collections.abc import Callable

from layerviz.lib import oci, pausepoints
from layerviz.lib.limits import Limits
from layerviz.lib.merged import MergedTree, cycle_collection_paused

from . import claims, packed
from . import progress as progress_text
from .claims import Outcome
from .models import Chain, DirChanges, Layer
from .progress import Progress


class ChainBuilder:
    def __init__(
        self,
        diff_ids: list[str],
        *,
        owner: str,
        progress: Progress,
        beat: Callable[[], None],
        created: list[int],
        limits: Limits,
    ) -> None:
        self.chain_ids = oci.chain_ids(diff_ids)
        self.chains: list[Chain] = []
        self._owner = owner
        self._progress = progress
        self._beat = beat
        self._created = created  # chains this run made, for its undo
        self._max_paths = limits.paths_per_image
        self._existing = {c.chain_id: c for c in Chain.objects.filter(chain_id__in=self.chain_ids)}
        self._tree: MergedTree | None = None

    @property
    def complete(self) -> bool:
        return len(self.chains) == len(self.chain_ids)

    def add(self, layer: Layer) -> Chain:
        """The chain of the next position, whose layer is ``layer`` (indexed and ready)."""
        with cycle_collection_paused():
            chain = self._add(layer)
        self.chains.append(chain)
        return chain

    def _add(self, layer: Layer) -> Chain:
        depth = len(self.chains)
        pausepoints.pause(f"chain:{depth}")
        chain_id = self.chain_ids[depth]
        found = self._existing.get(chain_id)
        # Found ready when we started: we build on it only once it is leased to us (a delete
        # may have taken it since; then we build it again).
        if found is not None and found.is_ready and claims.lease(Chain, found.pk, self._owner):
            if self._tree is not None:
                self._tree.replay(packed.chain_rows([found.pk]), depth)
        else:
            if self._tree is None:
                self._tree = MergedTree(self._max_paths)
                for below, chain in enumerate(self.chains):
                    self._tree.replay(packed.chain_rows([chain.pk]), below)
            self._progress.phase(progress_text.CHANGES, layer=depth + 1, layers=len(self.chain_ids))
            found = self._build(chain_id, layer, depth, self._tree)
        return found

    def _build(self, chain_id: str, layer: Layer, depth: int, tree: MergedTree) -> Chain:
        parent = self.chains[-1] if self.chains else None
        defaults = {"parent": parent, "layer": layer, "depth": depth}
        while True:
            outcome, chain = claims.claim(Chain, {"chain_id": chain_id}, self._owner, defaults)
            if outcome is Outcome.MINE:
                break
            if outcome is Outcome.READY or claims.wait_until_ready(
                Chain, chain.pk, label=chain_id, owner=self._owner, on_wait=self._beat
            ):
                chain = Chain.objects.get(pk=chain.pk)
                tree.replay(packed.chain_rows([chain.pk]), depth)
                return chain
        self._created.append(chain.pk)
        DirChanges.objects.filter(chain=chain).delete()  # whatever a dead owner left
        changes = tree.apply_layer(packed.StoredEntries(layer.pk))
        summary = changes.summary
        packed.save_changes(chain.pk, depth, changes, beat=lambda: self._beat_chain(chain))
        claims.publish(
            chain,
            self._owner,
            added=summary.added,
            modified=summary.modified,
            deleted=summary.deleted,
            added_bytes=summary.added_bytes,
            modified_bytes=summary.modified_bytes,
            deleted_bytes=summary.deleted_bytes,
            total_bytes=summary.total_bytes,
            total_files=summary.total_files,
            notes=summary.notes,
        )
        return chain

    def _beat_chain(self, chain: Chain) -> None:
        claims.heartbeat(chain, self._owner)
        self._beat()
