"""Searching every indexed image: what a query means, and the hits it finds.

A query is a kind and a text (``parse``); each kind is one function giving the SQL condition
on ``search_searchfile`` rows (``MATCHERS``). ``search`` then:

1. joins the matching rows to every image that uses their layer (``ImageLayer``), in a fixed
   order (row, image, position), one page of hits at a time, with one more to tell whether
   there are more;
2. reads, for those hits only, the images' chains and the ``DirChanges`` rows of the hits'
   directories (names and change kinds, no blob unpacked), and works out for each hit
   whether a later layer of its image deletes or replaces that version (ghost bytes: they
   still ship) or whether it is the version the image's final filesystem shows.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Callable

from django.db import connection
from django.db.models import Q

from layerviz.images.models import DirChanges, Image, ImageLayer, Layer
from layerviz.lib import changes, packagedb
from layerviz.lib.packed_changes import NAME_SEPARATOR
from layerviz.packages import scan as package_scan
from layerviz.packages.models import ImagePackage

from .models import FTS_TABLE, SearchFile

PATH, NAME, SHA256, PACKAGE = "path", "name", "sha256", "package"
KINDS = (PATH, NAME, SHA256, PACKAGE)
SUBSTRING, GLOB, EQUAL = "substring", "glob", "equal"
LIMIT = 200
MAX_OFFSET = 10_000
MIN_CHARS = 3  # a trigram index needs three characters in a row
MAX_CHARS = 1000
HEX64 = re.compile(r"[0-9a-f]{64}")
GLOB_CHARS = re.compile(r"[*?\[\]]")
# What a [...] set may hold: characters every dialect reads alike (fnmatch, SQLite's GLOB,
# PostgreSQL's regular expressions), and ranges of them.
SET_BODY = re.compile(r"[A-Za-z0-9._+-]+")
DELETED, REPLACED = "deleted", "replaced"


class BadQuery(ValueError):
    """A query that cannot be answered: ``code`` (the words are in ``words.ERRORS``) and its
    parameters."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclasses.dataclass(frozen=True)
class Query:
    text: str  # as typed, trimmed
    kind: str
    guessed: bool  # the kind was worked out from the text
    match: str  # SUBSTRING, GLOB or EQUAL
    value: str  # what is matched: the needle, the glob, the name, the hex digest, the package
    version: str = ""  # a package's version, when one was given


def guess_kind(text: str) -> str:
    """64 hex digits (with or without ``sha256:``) are a content digest, a text with a "/" a
    path, anything else a file name."""
    if HEX64.fullmatch(text.lower().removeprefix("sha256:")):
        return SHA256
    return PATH if "/" in text else NAME


def parse(text: str, kind: str = "") -> Query:
    """What ``text`` asks for, as ``kind`` (guessed when empty), or ``BadQuery`` saying why
    it cannot be answered: a glob when it has * ? [ ], else a part of a path (3 characters at
    least), a name, a digest or a package (``openssl 3.0.11``, ``openssl@3.0.11``)."""
    text = text.strip()
    if not text:
        raise BadQuery("empty")
    if len(text) > MAX_CHARS:
        raise BadQuery("too-long", limit=MAX_CHARS)
    if "\0" in text:
        raise BadQuery("nul")
    if kind and kind not in KINDS:
        raise BadQuery("unknown-kind", kind=kind, kinds=", ".join(KINDS))
    guessed = not kind
    kind = kind or guess_kind(text)
    if kind == PACKAGE:
        name, version = _name_and_version(text)
        return Query(text, kind, guessed, EQUAL, name, version)
    if kind == SHA256:
        digest = text.lower().removeprefix("sha256:")
        if not HEX64.fullmatch(digest):
            raise BadQuery("bad-sha256")
        return Query(text, kind, guessed, EQUAL, digest)
    if GLOB_CHARS.search(text):
        pattern = text
        if kind == PATH and not pattern.startswith(("/", "*")):
            pattern = "/" + pattern  # paths are matched whole, from the root
        if kind == NAME and "/" in pattern:
            raise BadQuery("slash-in-name")
        tokens = glob_tokens(pattern)
        if _longest_literal(tokens) < MIN_CHARS:
            raise BadQuery("glob-too-broad", chars=MIN_CHARS)
        return Query(text, kind, guessed, GLOB, pattern)
    if kind == NAME:
        if "/" in text:
            raise BadQuery("slash-in-name")
        return Query(text, kind, guessed, EQUAL, text)
    if len(text) < MIN_CHARS:
        raise BadQuery("too-short", chars=MIN_CHARS)
    return Query(text, kind, guessed, SUBSTRING, text)


# --- globs ----------------------------------------------------------------------------------

STAR, ONE, SET, LITERAL = "*", "?", "[]", ""
Token = tuple[str, str]  # (STAR | ONE | SET | LITERAL, the set's body or the character)


def glob_tokens(pattern: str) -> list[Token]:
    """``*`` any run of characters ("/" included, as fnmatch and SQLite's GLOB have it), ``?``
    one character, ``[abc]``/``[a-z]``/``[!abc]`` one of (or none of) a set; a ``[`` that
    closes nowhere, and a lone ``]``, stand for themselves."""
    tokens: list[Token] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            if not tokens or tokens[-1][0] != STAR:
                tokens.append((STAR, ""))
        elif c == "?":
            tokens.append((ONE, ""))
        elif c == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            negated = body.startswith("!")
            chars = body[1:] if negated else body
            if not SET_BODY.fullmatch(chars) or _reversed_range(chars):
                raise BadQuery("bad-set", set=pattern[i : end + 1])
            tokens.append((SET, body))
            i = end
        else:
            tokens.append((LITERAL, c))
        i += 1
    return tokens


def _reversed_range(body: str) -> bool:
    return any(body[k - 1] > body[k + 1] for k in range(1, len(body) - 1) if body[k] == "-")


def _longest_literal(tokens: list[Token]) -> int:
    longest = run = 0
    for kind, _ in tokens:
        run = run + 1 if kind == LITERAL else 0
        longest = max(longest, run)
    return longest


def _sqlite_glob(tokens: list[Token]) -> str:
    out = []
    for kind, value in tokens:
        if kind == LITERAL:
            out.append(f"[{value}]" if value in "*?[" else value)
        elif kind == SET:
            out.append("[^" + value[1:] + "]" if value.startswith("!") else f"[{value}]")
        else:
            out.append(kind)
    return "".join(out)


def _regex(tokens: list[Token], *, in_name: bool) -> str:
    """A PostgreSQL regular expression for the tokens; ``in_name``: no wildcard crosses "/"."""
    any_char = "[^/]" if in_name else "."
    out = []
    for kind, value in tokens:
        if kind == LITERAL:
            out.append(value if value.isalnum() else "\\" + value)
        elif kind == STAR:
            out.append(any_char + "*")
        elif kind == ONE:
            out.append(any_char)
        elif value.startswith("!"):
            out.append("[^" + value[1:] + ("/]" if in_name else "]"))
        else:
            out.append(f"[{value}]")
    return "".join(out)


# --- one function per kind: the condition on the rows (``s``) -------------------------------

Condition = tuple[str, list[str | bytes]]  # SQL on the rows ``s``, and its parameters
FTS = FTS_TABLE


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _name_expression() -> str:
    # exactly the expression of the index "searchfile_name", so that it is used
    return "SUBSTRING(s.path, s.name_at)" if _postgres() else "SUBSTR(s.path, s.name_at)"


def _fts(where: str, value: str) -> Condition:
    return f"s.id IN (SELECT rowid FROM {FTS} WHERE {where})", [value]


def match_path(query: Query) -> Condition:
    if query.match == GLOB:
        tokens = glob_tokens(query.value)
        if _postgres():
            return "s.path ~ %s", ["^" + _regex(tokens, in_name=False) + "$"]
        return _fts("path GLOB %s", _sqlite_glob(tokens))
    if _postgres():
        escaped = re.sub(r"([\\%_])", r"\\\1", query.value)
        return "s.path LIKE %s", [f"%{escaped}%"]
    return _fts(f"{FTS} MATCH %s", '"' + query.value.replace('"', '""') + '"')


def match_name(query: Query) -> Condition:
    name = _name_expression()
    if query.match == EQUAL:
        return f"{name} = %s", [query.value]
    tokens = glob_tokens(query.value)
    if _postgres():
        return "s.path ~ %s", ["/" + _regex(tokens, in_name=True) + "$"]
    glob = _sqlite_glob(tokens)
    sql, params = _fts("path GLOB %s", "*/" + glob)
    return f"{sql} AND {name} GLOB %s", [*params, glob]


def match_sha256(query: Query) -> Condition:
    return "s.sha256 = %s", [bytes.fromhex(query.value)]


def _name_and_version(text: str) -> tuple[str, str]:
    """``openssl 3.0.11``, ``openssl@3.0.11``, ``@types/node@20.1.0`` (an npm scope's ``@``
    is part of the name) or just a name."""
    if " " in text:
        name, version = text.split(None, 1)
        return name, version.strip()
    at = text.rfind("@")
    if at > 0:
        return text[:at], text[at + 1 :]
    return text, ""


MATCHERS: dict[str, Callable[[Query], Condition]] = {
    PATH: match_path,
    NAME: match_name,
    SHA256: match_sha256,
}  # PACKAGE is answered from the package index instead (``search_packages``)


# --- hits -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Hit:
    """One version of a file in one image: the layer (0-based ``position``) that wrote it."""

    image: Image
    position: int
    diff_id: str
    path: str  # "/" + the path
    type: str
    size: int
    sha256: str  # hex, "" but for regular files
    hidden_by: int | None = None  # the first later layer that deleted or replaced it
    hidden_how: str = ""  # DELETED or REPLACED

    @property
    def visible(self) -> bool:
        return self.hidden_by is None

    @property
    def relative_path(self) -> str:
        """As the explorer's ``path=`` parameters take it."""
        return self.path[1:]

    @property
    def directory(self) -> str:
        return self.path[1:].rpartition("/")[0]

    @property
    def name(self) -> str:
        return self.path.rpartition("/")[2]


@dataclasses.dataclass
class PackageHit:
    """One version of a package in one image (``packages.ImagePackage``): the layer (0-based
    ``position``) that installed it, and the one that upgraded or removed it, if any (its files
    then still ship in the layer that installed it: ghost bytes)."""

    image: Image
    package: ImagePackage

    @property
    def position(self) -> int:
        return self.package.layer

    @property
    def visible(self) -> bool:
        return self.package.gone_at is None


@dataclasses.dataclass
class Result:
    query: Query
    hits: list[Hit]
    offset: int
    limit: int
    more: bool  # hits past this page exist
    packages: list[PackageHit] = dataclasses.field(default_factory=list)


def search(query: Query, *, offset: int = 0, limit: int | None = None) -> Result:
    """One page of hits from ``offset``: ``limit`` of them (``LIMIT`` by default); raises
    ``BadQuery`` for a kind that cannot be answered yet."""
    limit = LIMIT if limit is None else limit
    if query.kind == PACKAGE:
        return search_packages(query, offset=offset, limit=limit)
    sql, params = MATCHERS[query.kind](query)
    files = SearchFile._meta.db_table
    links = ImageLayer._meta.db_table
    select = (
        "SELECT s.path, s.type, s.size, s.sha256, il.image_id, il.position, il.layer_id "
        f"FROM {files} s JOIN {links} il ON il.layer_id = s.layer_id "
        f"WHERE {sql} ORDER BY s.id, il.image_id, il.position LIMIT %s OFFSET %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(select, [*params, limit + 1, offset])
        rows = cursor.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    image_ids = {row[4] for row in rows}
    images = {image.pk: image for image in Image.objects.with_names().filter(pk__in=image_ids)}
    stacks: dict[int, list[tuple[int, int]]] = defaultdict(list)  # image -> (chain, layer)
    for image_id, chain_id, layer_id in (
        ImageLayer.objects.filter(image_id__in=image_ids)
        .order_by("image_id", "position")
        .values_list("image_id", "chain_id", "layer_id")
    ):
        stacks[image_id].append((chain_id, layer_id))
    diff_ids = dict(
        Layer.objects.filter(pk__in={row[6] for row in rows}).values_list("pk", "diff_id")
    )
    hits = [
        Hit(
            image=images[image_id],
            position=position,
            diff_id=diff_ids[layer_id],
            path=path,
            type=type_,
            size=size,
            sha256=bytes(digest).hex(),
        )
        for path, type_, size, digest, image_id, position, layer_id in rows
    ]
    _mark_hidden(hits, stacks)
    return Result(query, hits, offset, limit, more)


def _mark_hidden(hits: list[Hit], stacks: dict[int, list[tuple[int, int]]]) -> None:
    """Set ``hidden_by``/``hidden_how`` of each hit a later layer of its image deletes or
    writes again: one query for every directory of every image among the hits."""
    chains = {chain for stack in stacks.values() for chain, _ in stack}
    directories = {hit.directory for hit in hits}
    kinds: dict[tuple[int, str], dict[str, str]] = {}  # (chain, directory) -> name -> kind
    if chains and directories:
        rows = DirChanges.objects.filter(chain_id__in=chains, dir__in=directories)
        for chain_id, directory, names, codes in rows.values_list(
            "chain_id", "dir", "names", "kinds"
        ).iterator(chunk_size=500):
            listed = names.split(NAME_SEPARATOR) if names else []
            kinds[chain_id, directory] = dict(zip(listed, codes, strict=True))
    for hit in hits:
        stack = stacks[hit.image.pk]
        for above in range(hit.position + 1, len(stack)):
            kind = kinds.get((stack[above][0], hit.directory), {}).get(hit.name)
            if kind is not None:
                hit.hidden_by = above
                hit.hidden_how = DELETED if kind == changes.DELETED else REPLACED
                break


def search_packages(query: Query, *, offset: int, limit: int) -> Result:
    """Every image's versions of the package ``query.value`` (at ``query.version``, when
    given), by its name as written or as its ecosystem compares names (PEP 503 for Python):
    one indexed lookup (``ImagePackage``'s (name, version) and (normalized, version)). Images
    whose packages were never read (indexed before layerviz read them) are read first."""
    package_scan.scan_all()
    rows = ImagePackage.objects.filter(
        Q(name=query.value) | Q(normalized=packagedb.normalized("python", query.value))
    )
    if query.version:
        rows = rows.filter(version=query.version)
    found = list(rows.order_by("image_id", "layer", "ecosystem", "pk")[offset : offset + limit + 1])
    more = len(found) > limit
    found = found[:limit]
    images = {
        image.pk: image
        for image in Image.objects.with_names().filter(pk__in={p.image_id for p in found})
    }
    hits = [PackageHit(images[p.image_id], p) for p in found]
    return Result(query, [], offset, limit, more, hits)
