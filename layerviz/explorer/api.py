"""The explorer's data as JSON, for scripts, CI and tests: an image's layer stack, a layer's
changes or the merged tree, a file's history, a step of the stepper.

``/api/images/REF``, ``/api/images/REF/tree``, ``/api/images/REF/history`` and
``/api/images/REF/steps``, where REF is anything ``/find?ref=`` accepts, slashes and all. The
rows come from the functions the pages list them with (``filesystem.listing``,
``filesystem.search``, ``filesystem.path_history``, ``steps``), so the two cannot disagree. Layer numbers are 1-based, as the pages show them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from layerviz.http import HtmxHttpRequest, int_param
from layerviz.images import dockerfile, efficiency, filesystem, steps
from layerviz.images.lookup import ImageNotFound, find_image
from layerviz.images.models import Image
from layerviz.images.report import image_summary
from layerviz.lib import changes, filemode, stored_text
from layerviz.lib.changes import ChangeRow
from layerviz.lib.instructions import clean_instruction
from layerviz.lib.limits import Limits

from .views import file_response

MAX_LIMIT = 5000  # rows per answer; more with offset


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


@require_GET
def images_api(request: HtmxHttpRequest, ref: str) -> HttpResponseBase:
    """Dispatches on the last segment: a name may hold slashes, so ``lv/app/tree`` is the tree
    of ``lv/app`` when that names an image, and the image ``lv/app/tree`` otherwise."""
    head, _, last = ref.rpartition("/")
    if head and last in VIEWS:
        try:
            return VIEWS[last](request, find_image(head))
        except ImageNotFound:
            pass
    try:
        image = find_image(ref)
    except ImageNotFound as exc:
        return _error(str(exc), 404)
    return _stack(request, image)


def _stack(request: HtmxHttpRequest, image: Image) -> JsonResponse:
    summary = image_summary(image)
    summary["history"] = [
        {
            "instruction": clean_instruction(step.created_by),
            "created_by": stored_text.visible(step.created_by),
            "created": stored_text.visible(step.created) or None,  # as the config wrote it
            "comment": stored_text.visible(step.comment),
            "empty_layer": step.empty_layer,
            "layer": None if step.position is None else step.position + 1,
        }
        for step in image.history.all()
    ]
    return JsonResponse(summary)


def _layer_number(request: HtmxHttpRequest, name: str, count: int, default: str = "") -> int | None:
    """The 1-based layer number ``?name=N`` gives, or None when it is missing, not a whole
    number or no layer of ``count``: a route that must not guess answers 400 for those."""
    raw = request.GET.get(name, default)
    if not (raw.isdigit() and len(raw) <= 9 and 1 <= int(raw) <= count):
        return None
    return int(raw)


def _layer(request: HtmxHttpRequest, count: int) -> int:
    """The 0-based position of ``?layer=N`` (1-based, the top by default)."""
    return int_param(request, "layer", default=count, low=1, high=max(count, 1)) - 1


def _tree(request: HtmxHttpRequest, image: Image) -> JsonResponse:
    chains = image.chains()
    if not chains:
        return _error(f"{image.name} has no layers", 404)
    depth = _layer(request, len(chains))
    mode = request.GET.get("mode", filesystem.LAYER)
    if mode not in (filesystem.LAYER, filesystem.MERGED):
        return _error(f"mode must be {filesystem.LAYER} or {filesystem.MERGED}", 400)
    sort = request.GET.get("sort", "name")
    if sort not in ("name", "size"):
        return _error("sort must be name or size", 400)
    kinds = set()
    for word in request.GET.getlist("kind"):
        code = _KIND_CODES.get(word, word if word in changes.KIND_NAMES else None)
        if code is None:
            return _error(f"unknown kind {word!r}: one of {', '.join(_KIND_CODES)}", 400)
        kinds.add(code)
    path = request.GET.get("path", "").strip("/")
    q = request.GET.get("q", "").strip()
    raw = request.GET.get("raw", "") == "1"
    if raw and (mode != filesystem.LAYER or q):
        return _error(
            "raw lists one directory of a layer's changes: not with mode=merged or q", 400
        )
    offset = int_param(request, "offset", default=0, low=0, high=Limits.from_env().paths_per_image)
    limit = int_param(request, "limit", default=filesystem.PAGE, low=1, high=MAX_LIMIT)
    if q:
        rows, total = filesystem.search(
            chains, depth, mode, q, kinds=kinds, offset=offset, limit=limit
        )
    else:
        rows, total = filesystem.listing(
            chains, depth, mode, path, sort=sort, kinds=kinds, offset=offset, limit=limit, raw=raw
        )
    return JsonResponse(
        {
            "image": image.digest,
            "layer": depth + 1,
            "mode": mode,
            "path": path,
            "q": q,
            "raw": raw,
            "total": total,
            "offset": offset,
            "limit": limit,
            "rows": [row_json(row) for row in rows],
        }
    )


def _history(request: HtmxHttpRequest, image: Image) -> JsonResponse:
    path = request.GET.get("path", "").strip("/")
    if not path:
        return _error("give the file's path: ?path=usr/bin/python3", 400)
    chains = image.chains()
    rows = filesystem.path_history(chains, path)
    if not rows:
        return _error(f"no layer of {image.name} holds {path}", 404)
    steps = image.instructions()
    return JsonResponse(
        {
            "image": image.digest,
            "path": path,
            "rows": [{**row_json(row), "instruction": steps.get(row.depth, "")} for row in rows],
        }
    )


def _dockerfile(request: HtmxHttpRequest, image: Image) -> HttpResponse:
    """The Dockerfile read back from the history, as plain text (the page's lines)."""
    return HttpResponse(
        dockerfile.reconstruct(image).text(), content_type="text/plain; charset=utf-8"
    )


def _cache(request: HtmxHttpRequest, image: Image) -> JsonResponse:
    """What the build cache reuses and rebuilds when layer ``change=N`` (1-based) changes."""
    number = _layer_number(request, "change", image.layer_count)
    if number is None:
        return _error(f"give the layer that changes: ?change=N, 1 to {image.layer_count}", 400)
    built = dockerfile.reconstruct(image)
    step = dockerfile.step_of_layer(built, number)
    if step is None:
        return _error(f"no step of {image.name}'s history made layer {number}", 404)
    answer = dockerfile.what_if(built, step)
    return JsonResponse(
        {
            "image": image.digest,
            "change": number,
            "instruction": answer.changed.text,
            "reused": [il.position + 1 for il in answer.reused],
            "rebuilt": [il.position + 1 for il in answer.rebuilt],
            "rebuild_bytes": answer.rebuild_bytes,
            "push_bytes": answer.push_bytes,
            "push_estimated": answer.push_estimated,
        }
    )


def _steps(request: HtmxHttpRequest, image: Image) -> JsonResponse:
    """A step of the union filesystem stepper: what layer N did, and with ``path``, how a read
    of it is answered as of layer N (``images.steps``)."""
    chains = image.chains()
    if not chains:
        return _error(f"{image.name} has no layers", 404)
    number = _layer_number(request, "layer", len(chains), default="1")
    if number is None:
        return _error(f"layer must be 1 to {len(chains)}, bottom first", 400)
    depth = number - 1
    step = steps.layer_step(chains, depth, image.instructions().get(depth, ""))
    chain = step.chain
    answer: dict[str, Any] = {
        "image": image.digest,
        "layer": depth + 1,
        "layers": len(chains),
        "instruction": step.instruction,
        "files": {
            "added": chain.added,
            "added_bytes": chain.added_bytes,
            "modified": chain.modified,
            "modified_bytes": chain.modified_bytes,
            "deleted": chain.deleted,
            "deleted_bytes": chain.deleted_bytes,
            "total": chain.total_files,
            "total_bytes": chain.total_bytes,
        },
        "added": [_change_json(c) for c in step.added],
        "modified": [_change_json(c) for c in step.modified],
        "deleted": [_change_json(c) for c in step.deleted],
        "opaque": [
            {
                "path": d.path,
                "files": d.files,
                "size": d.size,
                "still_ships_in": [n + 1 for n in d.carried_by],
                "hidden": [_change_json(c) for c in d.hidden],
            }
            for d in step.opaque
        ],
        "tar_entries": step.tar_entries,  # the whiteouts, named as the layer's tar wrote them
        "complete": not step.cut,
    }
    path = request.GET.get("path", "").strip().strip("/")
    if path:
        answer["lookup"] = _lookup_json(steps.lookup(chains, path, depth))
    return JsonResponse(answer)


def _words(path: str, kind: str, detail: str, type_: str) -> dict[str, Any]:
    """A path and what happened to it, in the API's words: every row of every route starts so."""
    return {
        "path": path,
        "kind": changes.KIND_NAMES[kind],
        "detail": changes.DETAIL_NAMES.get(detail, detail) or None,
        "type": filemode.TYPE_NAMES.get(type_, type_),
    }


def _change_json(change: steps.Change) -> dict[str, Any]:
    return {
        **_words(change.path, change.kind, change.detail, change.type),
        "size": change.size,
        "files": change.files,
        "still_ships_in": [n + 1 for n in change.carried_by],
    }


def _lookup_json(found: steps.Lookup) -> dict[str, Any]:
    answer = found.answer
    return {
        "path": found.path,
        "found": found.found,
        "answered_by": None if answer is None else answer.position + 1,
        "verdict": None if answer is None else answer.verdict,
        "by": None if answer is None else answer.by or None,
        "how": None if answer is None else changes.DETAIL_NAMES.get(answer.how) or None,
        "still_ships_in": [n + 1 for n in found.still_ships],
        "layers": [
            {
                "layer": c.position + 1,
                "verdict": c.verdict,
                "reached": c.reached,
                "by": c.by or None,
                "how": changes.DETAIL_NAMES.get(c.how) or None,
                "row": None if c.row is None else row_json(c.row),
            }
            for c in found.layers
        ],
    }


def _setid(request: HtmxHttpRequest, image: Image) -> JsonResponse:
    """The setuid and setgid files of the final filesystem, from the stored analysis."""
    files = efficiency.analyze(image).privileged
    return JsonResponse(
        {"image": image.digest, "files": [{**f, "layer": f["layer"] + 1} for f in files]}
    )


def _efficiency(request: HtmxHttpRequest, image: Image) -> JsonResponse:
    """The efficiency page's figures and advice, from the stored analysis: what a CI step
    checks an image against (``score`` and an empty ``advice``, say). Layers 1-based."""
    figures = efficiency.analyze(image).figures.to_json()
    ours = figures["ours"]
    for row in ours["per_layer"]:
        row["layer"] += 1
        row["undone_by"] = [[layer + 1, size] for layer, size in row["undone_by"]]
    for finding in figures["advice"]:
        finding["layers"] = [depth + 1 for depth in finding["layers"]]
        if "cleaned_in" in finding["params"]:
            finding["params"]["cleaned_in"] = [d + 1 for d in finding["params"]["cleaned_in"]]
    return JsonResponse({"image": image.digest, **figures})


def row_json(row: ChangeRow) -> dict[str, Any]:
    """One path as a layer's changes or the merged tree lists it; with ``raw``, a whiteout
    entry also has ``tar_entry``, its name exactly as the layer's tar wrote it."""
    out = {
        **_words(row.path, row.kind, row.detail, row.type),
        "size": row.size,
        "shown_size": row.shown_size,
        "mode": row.mode,
        "mode_string": filemode.mode_string(row.mode, row.type),
        "uid": row.uid,
        "gid": row.gid,
        "mtime": row.mtime,
        "sha256": row.sha256 or None,
        "link": row.link or None,
        "layer": row.depth + 1,
        "opaque": bool(row.flags & changes.OPAQUE_DIR),  # the layer hid what was below it
    }
    if row.entry:
        out["tar_entry"] = row.entry
    return out


_KIND_CODES = {word: code for code, word in changes.KIND_NAMES.items()}


def _content(request: HtmxHttpRequest, image: Image) -> HttpResponseBase:
    """The raw bytes of a regular file as of ``?layer=N`` (the top by default), checked
    against the index; 404 when absent or not a regular file, 409 when the bytes are not kept."""
    count = image.layer_count
    if "layer" in request.GET:
        number = _layer_number(request, "layer", count)
        if number is None:
            return _error(f"layer must be a whole number from 1 to {count}", 400)
    else:
        number = count
    path = request.GET.get("path", "")
    if not path.strip("/"):
        return _error("give the file's path: ?path=/etc/os-release", 400)
    return file_response(request, image, path, number - 1, api=True)


VIEWS: dict[str, Callable[[HtmxHttpRequest, Image], HttpResponseBase]] = {
    "content": _content,
    "tree": _tree,
    "history": _history,
    "dockerfile": _dockerfile,
    "cache": _cache,
    "steps": _steps,
    "setid": _setid,
    "efficiency": _efficiency,
}
