"""Advice a teacher or reviewer would give, each tied to layers and files with the evidence and
an estimate of what following it saves.

Findings carry a ``code`` and plain data; the wording (and its translation) lives in the
template, so this module stays free of Django.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from collections import defaultdict
from collections.abc import Sequence

from .waste import DELETED, METADATA, WasteReport

CACHE_DIRS = {
    "apt": ("var/lib/apt/lists/", "var/cache/apt/"),
    "pip": ("root/.cache/pip/", "home/*/.cache/pip/", "tmp/pip-"),
    "npm": (
        "root/.npm/",
        "home/*/.npm/",
        "usr/local/share/.cache/yarn/",
        "root/.cache/yarn/",
        "home/*/.cache/yarn/",
    ),
    "apk": ("var/cache/apk/",),
    "yum": ("var/cache/yum/", "var/cache/dnf/"),
}
JUNK_PATTERNS = (
    "*/.git/*",
    ".git/*",
    "*/node_modules/*",
    "*/__pycache__/*",
    "*.pyc",
    "*/.DS_Store",
    "*/.idea/*",
    "*/.vscode/*",
)
SECRET_PATTERNS = (
    "*/.env", ".env", "*/.env.*", "*/id_rsa", "*/id_ed25519", "*/id_ecdsa", "*.pem", "*.key", "*/.npmrc",
    "*/.pypirc", "*/.aws/credentials", "*/.docker/config.json", "*/.netrc", "*/.git-credentials",
)  # fmt: skip
TOOLCHAIN_PATTERNS = (
    "usr/bin/gcc*", "usr/bin/g++*", "usr/bin/cc", "usr/bin/c++", "usr/bin/cpp*", "usr/lib/gcc/*",
    "usr/libexec/gcc/*", "usr/bin/clang*", "usr/lib/llvm*", "usr/local/go/*", "usr/lib/go*/*",
    "usr/bin/rustc", "usr/local/cargo/*", "usr/local/rustup/*", "usr/bin/make", "usr/include/*",
)  # fmt: skip
INSTALL = re.compile(
    r"\b(pip3? install|npm (install|ci)|yarn( install)?\b|apt-get install|apk add|bundle install|"
    r"go mod download|composer install|poetry install|gem install|cargo (build|fetch))"
)
CHMOD = re.compile(r"\b(chmod|chown)\b")
TINY_LAYER = 1024
MANY_TINY = 5


@dataclasses.dataclass
class Finding:
    code: str
    saving: int
    layers: list[int]
    paths: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    params: dict[str, object] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    depth: int
    instruction: str
    keyword: str
    size: int


def _matches(path: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def _under(path: str, prefixes: Sequence[str]) -> bool:
    return any(
        fnmatch.fnmatchcase(path, p + "*") if "*" in p else path.startswith(p) for p in prefixes
    )


def advise(
    files: Sequence[tuple[str, int, int]],
    layers: Sequence[LayerInfo],
    waste: WasteReport,
    *,
    sample: int = 8,
) -> list[Finding]:
    """``files``: the final filesystem's files as (path, size, layer that wrote it)."""
    findings: list[Finding] = []

    # 1. Package-manager caches left in the image.
    for manager, prefixes in CACHE_DIRS.items():
        hits = [(p, s, d) for p, s, d in files if _under(p, prefixes)]
        if hits:
            findings.append(_grouped(f"cache_{manager}", hits, sample))

    # 2. Files added in one step and deleted in a later one: merge the steps.
    pairs: dict[tuple[int, int], list[tuple[str, int]]] = defaultdict(list)
    for shadow in waste.shadowed:
        if shadow.reason == DELETED and shadow.added_by != shadow.undone_by:
            pairs[(shadow.added_by, shadow.undone_by)].append((shadow.path, shadow.size))
    for (added, removed), paths in sorted(pairs.items(), key=lambda kv: -sum(s for _, s in kv[1])):
        paths.sort(key=lambda ps: -ps[1])
        findings.append(
            Finding(
                "deleted_later",
                sum(s for _, s in paths),
                [added, removed],
                paths[:sample],
                {"files": len(paths)},
            )
        )

    # 3. Build-context junk and secret-looking files copied in.
    copied = {layer.depth for layer in layers if layer.keyword in ("COPY", "ADD")}
    junk = [
        (p, s, d) for p, s, d in files if _matches(p, JUNK_PATTERNS) and (d in copied or not copied)
    ]
    if junk:
        findings.append(_grouped("context_junk", junk, sample))
    secrets = [(p, s, d) for p, s, d in files if _matches(p, SECRET_PATTERNS)]
    if secrets:
        findings.append(_grouped("secrets", secrets, sample))

    # 4. Build toolchains shipped in the final image.
    tools = [(p, s, d) for p, s, d in files if _matches(p, TOOLCHAIN_PATTERNS)]
    if tools:
        findings.append(_grouped("toolchain", tools, sample))

    # 5. chmod/chown in a step of its own copies every file it touches.
    rewrites: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
    for shadow in waste.shadowed:
        if shadow.reason == METADATA:
            rewrites[shadow.undone_by].append((shadow.path, shadow.size, shadow.added_by))
    by_depth = {layer.depth: layer for layer in layers}
    for depth, hits in rewrites.items():
        layer = by_depth.get(depth)
        instruction = layer.instruction if layer else ""
        code = "chmod_step" if CHMOD.search(instruction) else "metadata_rewrite"
        hits.sort(key=lambda h: -h[1])
        findings.append(
            Finding(
                code,
                sum(s for _, s, _ in hits),
                sorted({d for _, _, d in hits} | {depth}),
                [(p, s) for p, s, _ in hits[:sample]],
                {"files": len(hits), "instruction": instruction},
            )
        )

    # 6. Layering: many tiny layers; dependencies installed after the whole source is copied.
    tiny = [layer.depth for layer in layers if layer.size < TINY_LAYER]
    if len(tiny) >= MANY_TINY:
        findings.append(
            Finding("tiny_layers", 0, tiny, params={"count": len(tiny), "total": len(layers)})
        )
    for copy in layers:
        if copy.keyword not in ("COPY", "ADD") or not re.search(
            r"(^|\s)\.(/)?(\s|$)", copy.instruction
        ):
            continue
        later = next(
            (
                layer
                for layer in layers
                if layer.depth > copy.depth and INSTALL.search(layer.instruction)
            ),
            None,
        )
        if later is not None:
            findings.append(
                Finding(
                    "cache_order",
                    later.size,
                    [copy.depth, later.depth],
                    params={"copy": copy.instruction, "install": later.instruction},
                )
            )
            break

    findings.sort(key=lambda f: (f.code != "secrets", -f.saving))
    return findings


def _grouped(code: str, hits: list[tuple[str, int, int]], sample: int) -> Finding:
    hits = sorted(hits, key=lambda h: -h[1])
    return Finding(
        code,
        sum(s for _, s, _ in hits),
        sorted({d for _, _, d in hits}),
        [(p, s) for p, s, _ in hits[:sample]],
        {"files": len(hits)},
    )
