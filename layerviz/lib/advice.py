"""Advice a teacher or reviewer would give, each tied to layers and files with the evidence and
an estimate of what following it saves.

Findings carry a ``code`` and plain data; the wording (and its translation) lives in the
template, so this module stays free of Django.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import re
from collections import defaultdict
from collections.abc import Sequence

from .tarwalk import REG
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
# How the image was built, copied in with the source by COPY . .: junk at the top of what the
# step copied, where a build context keeps them. Deeper down, a file of that name is something
# the copied tree holds (layerviz's own lesson Dockerfiles, which ``manage.py lessons`` reads).
BUILD_FILES = (
    "Dockerfile", "Dockerfile.*", "*.dockerfile", ".dockerignore",
    "docker-compose.yml", "docker-compose.yaml", "compose.yaml", "compose.yml",
)  # fmt: skip
SECRET_PATTERNS = (
    "*/.env", ".env", "*/.env.*", "*/id_rsa", "*/id_ed25519", "*/id_ecdsa", "*.pem", "*.key", "*/.npmrc",
    "*/.pypirc", "*/.aws/credentials", "*/.docker/config.json", "*/.netrc", "*/.git-credentials",
)  # fmt: skip
# Public certificates, not secrets: the system trust stores (ca-certificates fills
# etc/ssl/certs with *.pem symlinks) and the CA bundle certifi ships inside every pip.
PUBLIC_CERTS = (
    "etc/ssl/certs/", "usr/share/ca-certificates/", "etc/pki/", "usr/lib/ssl/",
    "usr/local/share/ca-certificates/", "*/certifi/cacert.pem",
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
# The rootfs of a base image, as the classic builder and BuildKit record it.
ROOTFS_ADD = re.compile(r"ADD file:\S+ in /\s*")
FROM_STAGE = re.compile(r"^(COPY|ADD)\s+(--\S+\s+)*--from=")
TINY_LAYER = 1024
MANY_TINY = 5


@dataclasses.dataclass
class Finding:
    """``saving``: what following the advice saves. ``in_image`` of it are files the final
    filesystem still holds (a toolchain, a cache left in place), which the waste figures do not
    count; the rest are copies a later layer undid, part of what is reclaimable."""

    code: str
    saving: int
    layers: list[int]
    paths: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    params: dict[str, object] = dataclasses.field(default_factory=dict)
    in_image: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class File:
    """A file of the final filesystem."""

    path: str
    size: int
    depth: int  # the layer that wrote it
    regular: bool = True  # not a symlink, device...


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    depth: int
    instruction: str
    keyword: str
    size: int


def _matches(path: str, patterns: tuple[str, ...]) -> bool:
    return _any_of(patterns).match(path) is not None


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    plain, wild = _split(prefixes)
    return path.startswith(plain) or (wild is not None and wild.match(path) is not None)


# Every file of an image is checked against every pattern: one compiled expression per group,
# not one fnmatch call per pattern (which cost more than dive's whole analysis).
@functools.cache
def _any_of(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(fnmatch.translate(p) for p in patterns))


@functools.cache
def _split(prefixes: tuple[str, ...]) -> tuple[tuple[str, ...], re.Pattern[str] | None]:
    wild = tuple(p + "*" for p in prefixes if "*" in p)
    return tuple(p for p in prefixes if "*" not in p), _any_of(wild) if wild else None


def advise(
    files: Sequence[File],
    layers: Sequence[LayerInfo],
    waste: WasteReport,
    *,
    sample: int = 8,
) -> list[Finding]:
    """``files``: the final filesystem's files; ``waste`` holds every copy that did not last."""
    findings: list[Finding] = []

    # 1. Package-manager caches, left in the image or removed by a later step (which keeps
    #    their bytes in the earlier layer: the fix is the same, clean in the same RUN).
    #    Empty files (lock files, say) cost nothing: they are neither evidence nor worth a word.
    cleaned: set[int] = set()  # ids of the deleted copies a cache finding accounts for
    for manager, prefixes in CACHE_DIRS.items():
        hits = [(f.path, f.size, f.depth) for f in files if f.size and _under(f.path, prefixes)]
        later = [
            shadow
            for shadow in waste.shadowed
            if shadow.reason == DELETED and shadow.size and _under(shadow.path, prefixes)
        ]
        hits += [(shadow.path, shadow.size, shadow.added_by) for shadow in later]
        if not hits:
            continue
        finding = _grouped(f"cache_{manager}", hits, sample)
        finding.in_image = sum(size for _, size, _ in hits) - sum(shadow.size for shadow in later)
        removers = sorted({shadow.undone_by for shadow in later})
        finding.layers = sorted(set(finding.layers) | set(removers))
        finding.params["cleaned_in"] = removers
        findings.append(finding)
        cleaned.update(id(shadow) for shadow in later)

    # 2. Files added in one step and deleted in a later one: merge the steps, or, when the
    #    files came from the build context, leave them out of it. An empty file (a lock file)
    #    costs nothing and is not worth a word.
    copied = _context_copies(layers)
    pairs: dict[tuple[int, int], list[tuple[str, int]]] = defaultdict(list)
    for shadow in waste.shadowed:
        if (
            shadow.reason == DELETED
            and shadow.size
            and shadow.added_by != shadow.undone_by
            and id(shadow) not in cleaned
        ):
            pairs[(shadow.added_by, shadow.undone_by)].append((shadow.path, shadow.size))
    for (added, removed), paths in sorted(pairs.items(), key=lambda kv: -sum(s for _, s in kv[1])):
        paths.sort(key=lambda ps: -ps[1])
        findings.append(
            Finding(
                "copied_then_deleted" if added in copied else "deleted_later",
                sum(s for _, s in paths),
                [added, removed],
                paths[:sample],
                {"files": len(paths)},
            )
        )

    # 3. Build-context junk copied in, and secret-looking files in any layer: a key deleted
    #    by a later step is still in the layer that added it, for anyone who pulls the image.
    roots = _copy_roots(files, copied)
    junk = [
        (f.path, f.size, f.depth)
        for f in files
        if f.depth in copied
        and (_matches(f.path, JUNK_PATTERNS) or _build_file(f.path, roots[f.depth]))
    ]
    if junk:
        findings.append(_grouped("context_junk", junk, sample, in_image=True))
    secrets = [(f.path, f.size, f.depth) for f in files if f.regular and _secret(f.path)]
    hidden = [
        (shadow.path, shadow.size, shadow.added_by)
        for shadow in waste.shadowed
        if shadow.type == REG and _secret(shadow.path)
    ]
    if secrets or hidden:
        finding = _grouped("secrets", secrets + hidden, sample)
        finding.params["hidden"] = len(hidden)
        finding.in_image = sum(size for _, size, _ in secrets)
        findings.append(finding)

    # 4. Build toolchains shipped in the final image.
    tools = [(f.path, f.size, f.depth) for f in files if _matches(f.path, TOOLCHAIN_PATTERNS)]
    if tools:
        findings.append(_grouped("toolchain", tools, sample, in_image=True))

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
        installer = next(
            (
                layer
                for layer in layers
                if layer.depth > copy.depth and INSTALL.search(layer.instruction)
            ),
            None,
        )
        if installer is not None:
            findings.append(
                Finding(
                    "cache_order",
                    installer.size,
                    [copy.depth, installer.depth],
                    params={"copy": copy.instruction, "install": installer.instruction},
                )
            )
            break

    findings.sort(key=lambda f: (f.code != "secrets", -f.saving))
    return findings


def _secret(path: str) -> bool:
    return _matches(path, SECRET_PATTERNS) and not _under(path, PUBLIC_CERTS)


def _context_copies(layers: Sequence[LayerInfo]) -> set[int]:
    """The layers that copied files from the build context: COPY and ADD steps, but not the
    rootfs a base image was made from (``ADD file:… in /``, or the lowest layer), nor a
    ``COPY --from=`` another stage (BuildKit records the flag; the classic builder does not,
    so such a step is taken for a context copy there). Without any history, every layer above
    the lowest might have."""
    if not any(layer.instruction for layer in layers):
        return {layer.depth for layer in layers if layer.depth > 0}
    return {
        layer.depth
        for layer in layers
        if layer.depth > 0
        and layer.keyword in ("COPY", "ADD")
        and not ROOTFS_ADD.fullmatch(layer.instruction)
        and not FROM_STAGE.search(layer.instruction)
    }


def _copy_roots(files: Sequence[File], copied: set[int]) -> dict[int, str]:
    """Per context-copying layer, the directory its files have in common (``app/``, or ``""``
    for the root): where the COPY put the top of what it copied."""
    dirs: dict[int, str | None] = dict.fromkeys(copied)
    for f in files:
        if f.depth in dirs:
            parent = f.path.rpartition("/")[0]
            common = dirs[f.depth]
            dirs[f.depth] = parent if common is None else _common_dir(common, parent)
    return {depth: f"{d}/" if d else "" for depth, d in dirs.items()}


def _common_dir(a: str, b: str) -> str:
    parts = []
    for x, y in zip(a.split("/"), b.split("/"), strict=False):
        if x != y:
            break
        parts.append(x)
    return "/".join(parts)


def _build_file(path: str, root: str) -> bool:
    name = path[len(root) :]
    return path.startswith(root) and "/" not in name and _matches(name, BUILD_FILES)


def _grouped(
    code: str, hits: list[tuple[str, int, int]], sample: int, *, in_image: bool = False
) -> Finding:
    hits = sorted(hits, key=lambda h: -h[1])
    total = sum(s for _, s, _ in hits)
    return Finding(
        code,
        total,
        sorted({d for _, _, d in hits}),
        [(p, s) for p, s, _ in hits[:sample]],
        {"files": len(hits)},
        in_image=total if in_image else 0,
    )
