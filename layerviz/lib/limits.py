"""Caps on everything an input can make us read, parse or store.

Values follow ``image-format.md`` §0.7 and §5.3; each can be changed with an environment variable
``LAYERVIZ_MAX_<NAME>`` (for example ``LAYERVIZ_MAX_ENTRIES_PER_LAYER=5000000``), except the
two that bound how long a registry may take, which are not maxima and are named for what they
are (``LAYERVIZ_REGISTRY_MIN_RATE``, ``LAYERVIZ_REGISTRY_DEADLINE_FLOOR``).
"""

from __future__ import annotations

import dataclasses
import os

from .errors import ConfigError

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


@dataclasses.dataclass(frozen=True)
class Limits:
    json_bytes: int = 4 * MiB  # containerd's MaxManifestSize
    json_depth: int = 64
    special_header_bytes: int = 1 * MiB  # Go's maxSpecialFileSize for PAX and GNU long names
    pax_records: int = 10_000
    sparse_blocks: int = 100_000
    xattrs_bytes: int = 64 * KiB
    # Memory follows paths (~400 bytes each while an image's changes are worked out), so these
    # two bound it: about 1 GB at 2 million.
    entries_per_layer: int = 2_000_000
    paths_per_image: int = 2_000_000
    path_bytes: int = 4096
    path_depth: int = 256
    link_bytes: int = 4096
    layers_per_image: int = 256
    index_depth: int = 4
    # Descriptors met while expanding indexes, counting every time a shared nested index is
    # reached again: 2,000 entries pointing at one index of 2,000 make 4 million (§5.3).
    index_entries: int = 50_000
    layer_bytes: int = 64 * GiB  # decompressed tar stream of one layer
    image_bytes: int = 256 * GiB  # decompressed, all layers of one image
    # A compressed layer may expand this many times before the ratio cap applies; below
    # ratio_floor_bytes the ratio is not checked, so small zero-filled layers stay readable.
    expansion_ratio: int = 2_000
    ratio_floor_bytes: int = 1 * GiB
    outer_members: int = 1_000_000
    # A registry request (a blob, a manifest, a token) may keep us waiting this many seconds
    # plus its size at this many bytes a second, and must keep up that rate as it arrives
    # (adapters/registry_http/transport.Deadline); a rate of 0 sets no deadline.
    registry_min_rate: int = dataclasses.field(
        default=64 * KiB, metadata={"env": "LAYERVIZ_REGISTRY_MIN_RATE"}
    )
    registry_deadline_floor: int = dataclasses.field(
        default=60, metadata={"env": "LAYERVIZ_REGISTRY_DEADLINE_FLOOR"}
    )
    # Layer blobs of one image downloaded at once from a registry (sources/registry.py); 1
    # streams them one by one into the indexer, as before.
    registry_parallel: int = dataclasses.field(
        default=4, metadata={"env": "LAYERVIZ_REGISTRY_PARALLEL"}
    )

    @classmethod
    def from_env(cls) -> Limits:
        """The defaults, with every ``LAYERVIZ_MAX_<NAME>`` (or the name a field gives as its
        ``env``) set in the environment applied."""
        values = {}
        for field in dataclasses.fields(cls):
            name = env_name(field.name)
            raw = os.environ.get(name, "").strip()
            if not raw:
                continue
            try:
                values[field.name] = int(raw)
            except ValueError:
                raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
            if values[field.name] < 0:
                raise ConfigError(f"{name} must not be negative, not {raw!r}")
        return cls(**values)


def env_name(field: str) -> str:
    """The environment variable that sets the field ``field`` of ``Limits``."""
    metadata = next(f.metadata for f in dataclasses.fields(Limits) if f.name == field)
    return metadata.get("env") or f"LAYERVIZ_MAX_{field.upper()}"


# The built-in values, for code that reads without a source (tests, benchmarks); sources take
# theirs from ``SourceOptions.limits``, which reads the environment.
DEFAULT = Limits()
