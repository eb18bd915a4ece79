"""The lessons: for each, a few sentences, the live views that show the point (links holding
their state), and questions whose answers are worked out from the indexed lesson images.

The images are the lesson set (``layerviz.lessons.images``, loaded by ``manage.py lessons``); an
answer is computed from them on each request, so it is what the page's own views show, and it
stays true for the built set too (``lessons --build``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from urllib.parse import urlencode

from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from layerviz.images import comparison, containers, dockerfile, sharing, steps
from layerviz.images.lookup import ImageNotFound, find_image
from layerviz.images.models import Image, RecordedContainer
from layerviz.lib.units import human_bytes, layer_no

Images = dict[str, Image]


@dataclasses.dataclass(frozen=True)
class View:
    label: Promise
    url: Callable[[Images], str]


@dataclasses.dataclass(frozen=True)
class Question:
    text: Promise
    answer: Callable[[Images], str]


@dataclasses.dataclass(frozen=True)
class Lesson:
    slug: str
    title: Promise
    summary: Promise  # one line, for the list
    body: tuple[Promise, ...]  # a few sentences
    tags: tuple[str, ...]  # the lesson images it needs
    views: tuple[View, ...]
    questions: tuple[Question, ...]


def load(lesson: Lesson) -> tuple[Images, list[str]]:
    """The lesson's images by tag, and the tags not indexed (then the page says how to load
    them)."""
    found, missing = {}, []
    for tag in lesson.tags:
        try:
            found[tag] = find_image(tag)
        except ImageNotFound:
            missing.append(tag)
    return found, missing


# --- links to the views, with their state ---------------------------------------------------


def _page(name: str, tag: str, **query: object) -> Callable[[Images], str]:
    def url(images: Images) -> str:
        base = reverse(name, args=[images[tag].digest])
        return f"{base}?{urlencode(query)}" if query else base

    return url


def _compare(a: str, b: str) -> Callable[[Images], str]:
    def url(images: Images) -> str:
        query = urlencode({"a": images[a].digest, "b": images[b].digest})
        return f"{reverse('compare:compare')}?{query}"

    return url


def _store(prefix: str, have: str = "", target: str = "") -> Callable[[Images], str]:
    def url(images: Images) -> str:
        query = {"q": prefix}
        if have and target:
            query.update(have=images[have].digest, target=images[target].digest)
        anchor = "#planner" if target else ""
        return f"{reverse('compare:store')}?{urlencode(query)}{anchor}"

    return url


def _layer_with(image: Image, text: str) -> int:
    """The position of the layer whose instruction holds ``text`` (the top when none does)."""
    lines = dockerfile.reconstruct(image).lines
    made = [line.layer.position for line in lines if line.layer is not None and text in line.text]
    return made[0] if made else image.layer_count - 1


def _step_of(tag: str, text: str, **query: object) -> Callable[[Images], str]:
    """The stepper at the layer whose instruction holds ``text``."""

    def url(images: Images) -> str:
        image = images[tag]
        base = reverse("explorer:steps", args=[image.digest])
        return f"{base}?{urlencode({'layer': _layer_with(image, text), **query})}"

    return url


def _layer_of(tag: str, text: str, **query: object) -> Callable[[Images], str]:
    """The image page opened at the layer whose instruction holds ``text``."""

    def url(images: Images) -> str:
        image = images[tag]
        base = reverse("explorer:image", args=[image.digest])
        layer = _layer_with(image, text)
        return f"{base}?{urlencode({'layer': layer, 'mode': 'layer', **query})}"

    return url


def _named(name: str, *args: str, query: str = "") -> Callable[[Images], str]:
    def url(images: Images) -> str:
        return reverse(name, args=list(args)) + query

    return url


def reachable(view: View, images: Images) -> str | None:
    """The view's address, or None when the view does not exist in this build."""
    try:
        return view.url(images)
    except NoReverseMatch:
        return None


# --- answers, from the data -----------------------------------------------------------------


def _layers_and_metadata(tag: str) -> Callable[[Images], str]:
    def answer(images: Images) -> str:
        image = images[tag]
        metadata = [s for s in dockerfile.reconstruct(image).lines if s.layer is None]
        words = ", ".join(sorted({line.keyword or "?" for line in metadata}))
        return ngettext(
            "%(layers)s layers, and %(n)s step that only sets metadata (%(words)s): it changes "
            "the configuration, not the filesystem.",
            "%(layers)s layers, and %(n)s steps that only set metadata (%(words)s): they change "
            "the configuration, not the filesystem.",
            len(metadata),
        ) % {"layers": image.layer_count, "n": len(metadata), "words": words}

    return answer


def _biggest_layer(tag: str) -> Callable[[Images], str]:
    def answer(images: Images) -> str:
        image = images[tag]
        lines = [line for line in dockerfile.reconstruct(image).lines if line.layer is not None]
        if not lines:
            return _("It has no layer.")
        big = max(lines, key=lambda line: line.layer.layer.size if line.layer else 0)
        assert big.layer is not None
        return _("Layer %(no)s, made by %(step)s: %(size)s.") % {
            "no": layer_no(big.layer.position),
            "step": big.text,
            "size": human_bytes(big.layer.layer.size),
        }

    return answer


def _shared(a: str, b: str) -> Callable[[Images], str]:
    def answer(images: Images) -> str:
        pair = comparison.align(images[a], images[b])
        shared = comparison.numbers(pair, images[b]).shared_bytes
        return ngettext(
            "%(n)s layer, %(size)s: the same content on the same parents, stored once.",
            "%(n)s layers, %(size)s: the same content on the same parents, stored once.",
            len(pair.shared),
        ) % {"n": len(pair.shared), "size": human_bytes(shared)}

    return answer


def _not_shared(a: str, b: str) -> Callable[[Images], str]:
    def answer(images: Images) -> str:
        pair = comparison.align(images[a], images[b])
        first = pair.only_b[0] if pair.only_b else None
        if first is None:
            return _("Every layer is shared.")
        return _(
            "No. They share %(n)s layers; from layer %(no)s on, %(b)s wrote other files, so "
            "its layer has other content, another diff_id, and is stored and pulled again."
        ) % {"n": len(pair.shared), "no": layer_no(first.position), "b": images[b].label}

    return answer


def _pull(have: str, target: str) -> Callable[[Images], str]:
    def answer(images: Images) -> str:
        plan = sharing.pull_plan([images[have]], images[target])
        missing = sum(1 for step in plan.steps if not step.have)
        estimated = any(s.link.download_estimated for s in plan.steps if not s.have)
        text = ngettext(
            "%(size)s (%(n)s layer) of %(total)s: the host already has the rest.",
            "%(size)s (%(n)s layers) of %(total)s: the host already has the rest.",
            missing,
        ) % {
            "size": human_bytes(plan.download),
            "n": missing,
            "total": human_bytes(plan.total),
        }
        return text + (" " + _("Compressed sizes estimated.") if estimated else "")

    return answer


def _size_difference(big: str, small: str) -> Callable[[Images], str]:
    def answer(images: Images) -> str:
        a, b = images[big], images[small]
        return _("%(big)s is %(a)s, %(small)s %(b)s: %(diff)s more.") % {
            "big": a.label,
            "a": human_bytes(a.size),
            "small": b.label,
            "b": human_bytes(b.size),
            "diff": human_bytes(a.size - b.size),
        }

    return answer


def _rebuilt(old: str, new: str) -> Callable[[Images], str]:
    def answer(images: Images) -> str:
        numbers = dockerfile.rebuilt_between(images[old], images[new])
        layers = {il.position + 1: il for il in images[new].layers_in_order()}
        pull = sum(layers[n].download for n in numbers)
        return ngettext(
            "Layer %(numbers)s was rebuilt; a host holding %(old)s downloads %(pull)s.",
            "Layers %(numbers)s were rebuilt; a host holding %(old)s downloads %(pull)s.",
            len(numbers),
        ) % {
            "numbers": ", ".join(f"#{n}" for n in numbers) or "–",
            "old": images[old].label,
            "pull": human_bytes(pull),
        }

    return answer


def _what_if(old: str, new: str) -> Callable[[Images], str]:
    """The Dockerfile of ``old`` with the step that changed in ``new`` "changed"."""

    def url(images: Images) -> str:
        base = reverse("explorer:dockerfile", args=[images[old].digest])
        step = dockerfile.first_changed_step(images[old], images[new])
        return f"{base}?change={step}" if step else base

    return url


def _chmod_copy(tag: str) -> Callable[[Images], str]:
    def answer(images: Images) -> str:
        image = images[tag]
        lines = dockerfile.reconstruct(image).lines
        run = next(line for line in lines if line.layer is not None and "chmod" in line.text)
        assert run.layer is not None
        return _("%(size)s: the layer of %(step)s holds the whole file again, for a mode bit.") % {
            "size": human_bytes(run.layer.layer.size),
            "step": run.text,
        }

    return answer


def _read(tag: str, path: str) -> Callable[[Images], str]:
    """Which layer answers a read of ``path`` as of the image's top, and what lies unread."""

    def answer(images: Images) -> str:
        image = images[tag]
        found = steps.lookup(image.chains(), path, image.layer_count - 1)
        unread = ", ".join(layer_no(n) for n in found.still_ships)
        if found.answer is None:
            return _("No layer has /%(path)s.") % {"path": path}
        if found.found:
            text = _("Layer %(no)s answers: it is the top-most layer that has /%(path)s.") % {
                "no": layer_no(found.answer.position),
                "path": path,
            }
        else:
            text = _("No such file: layer %(no)s deleted it, so the read stops there.") % {
                "no": layer_no(found.answer.position)
            }
        if unread:
            text += " " + _("Layers below still carry a version nobody reads: %(layers)s.") % {
                "layers": unread
            }
        return text

    return answer


def _still_ships(tag: str, path: str) -> Callable[[Images], str]:
    """The layer that still carries a deleted file's bytes, and how many."""

    def answer(images: Images) -> str:
        image = images[tag]
        found = steps.lookup(image.chains(), path, image.layer_count - 1)
        carrying = [c for c in found.layers if c.shadowed and c.row is not None]
        if not carrying or found.answer is None:
            return _("Nothing: no layer carries /%(path)s.") % {"path": path}
        where = carrying[0]
        assert where.row is not None
        return _(
            "Layer %(no)s, made by %(step)s, still holds all %(size)s of it: anyone who pulls "
            "the image can read it there. Layer %(gone)s only added a whiteout."
        ) % {
            "no": layer_no(where.position),
            # A layer no history step accounts for is named by its number alone.
            "step": image.instructions().get(where.position, "") or layer_no(where.position),
            "size": human_bytes(where.row.size),
            "gone": layer_no(found.answer.position),
        }

    return answer


def _copied_up(name: str) -> Callable[[Images], str]:
    def answer(images: Images) -> str:
        recorded = containers.find_recorded(name)
        if recorded is None:
            return _("The lesson's container is not recorded: run python manage.py lessons.")
        view = containers.recorded_view(recorded)
        copied = [c for c in view.layer.changes if c.kind == "C" and c.type != "dir"]
        return ngettext(
            "%(n)s file copied up whole, %(size)s, though the app changed a few bytes.",
            "%(n)s files copied up whole, %(size)s, though the app changed a few bytes.",
            len(copied),
        ) % {"n": len(copied), "size": human_bytes(sum(c.size or 0 for c in copied))}

    return answer


def _containers_sharing(tag: str) -> Callable[[Images], str]:
    def answer(images: Images) -> str:
        names = list(
            RecordedContainer.objects.filter(image=images[tag]).values_list("name", flat=True)
        )
        return ngettext(
            "%(n)s container (%(names)s): each has its own writable layer on the one image.",
            "%(n)s containers (%(names)s): each has its own writable layer on the one image.",
            len(names),
        ) % {"n": len(names), "names": ", ".join(names)}

    return answer


# --- the lessons ----------------------------------------------------------------------------

LAYERS = "lesson/layers:1.0"
PYTHON, SHOP, BLOG, GALLERY = (
    "lesson/python:3.12",
    "lesson/shop:1.0",
    "lesson/blog:1.0",
    "lesson/gallery:1.0",
)
SECRET = "lesson/secret:1.0"
APT_SPLIT, APT_MERGED = "lesson/apt-split:1.0", "lesson/apt-merged:1.0"
CHMOD = "lesson/chmod:1.0"
CONTEXT_ALL, CONTEXT_IGNORED = "lesson/context-all:1.0", "lesson/context-ignored:1.0"
SINGLE, MULTI, BUILDER = (
    "lesson/single-stage:1.0",
    "lesson/multi-stage:1.0",
    "lesson/multi-stage-builder:1.0",
)
BAD_1, BAD_2, GOOD_1, GOOD_2 = (
    "lesson/cache-bad:1.0",
    "lesson/cache-bad:1.1",
    "lesson/cache-good:1.0",
    "lesson/cache-good:1.1",
)

LESSONS: tuple[Lesson, ...] = (
    Lesson(
        "layers",
        gettext_lazy("An image is a stack of read-only layers"),
        gettext_lazy("One layer per step that changes files; ENV, CMD, WORKDIR change none."),
        (
            gettext_lazy(
                "Each Dockerfile step that changes the filesystem (RUN, COPY, ADD) makes one "
                "layer: a tar of the files it added, changed or deleted. Layers never change "
                "once made."
            ),
            gettext_lazy(
                "Steps like ENV, CMD, WORKDIR, EXPOSE and LABEL only write the image's "
                "configuration: they are in the history but make no layer."
            ),
        ),
        (LAYERS,),
        (
            View(gettext_lazy("The layer stack"), _page("explorer:image", LAYERS)),
            View(gettext_lazy("The Dockerfile, read back"), _page("explorer:dockerfile", LAYERS)),
            View(gettext_lazy("Step through the layers"), _page("explorer:steps", LAYERS)),
        ),
        (
            Question(
                gettext_lazy("How many layers has the image, and how many of its steps make none?"),
                _layers_and_metadata(LAYERS),
            ),
            Question(
                gettext_lazy("Which step made the biggest layer?"),
                _biggest_layer(LAYERS),
            ),
        ),
    ),
    Lesson(
        "sharing",
        gettext_lazy("Layers are addressed by their content"),
        gettext_lazy("The same base and the same install are stored and pulled once."),
        (
            gettext_lazy(
                "A layer is named by the digest of its content. Two images built on the same "
                "base with the same step on top hold the very same layers: a registry stores "
                "them once and a host pulls them once."
            ),
            gettext_lazy(
                "Change what a step writes, even by one package, and its layer is another "
                "one, and so is every layer on top of it."
            ),
        ),
        (PYTHON, SHOP, BLOG, GALLERY),
        (
            View(gettext_lazy("Compare the shop and the blog"), _compare(SHOP, BLOG)),
            View(gettext_lazy("Compare the shop and the gallery"), _compare(SHOP, GALLERY)),
            View(gettext_lazy("Every lesson image's layers"), _store("lesson/")),
            View(gettext_lazy("Pull the blog where the shop is"), _store("lesson/", SHOP, BLOG)),
        ),
        (
            Question(gettext_lazy("How much do the shop and the blog share?"), _shared(SHOP, BLOG)),
            Question(
                gettext_lazy("Does the gallery share the shop's pip install layer?"),
                _not_shared(SHOP, GALLERY),
            ),
            Question(
                gettext_lazy(
                    "How many bytes does a host holding the shop download to get the blog?"
                ),
                _pull(SHOP, BLOG),
            ),
        ),
    ),
    Lesson(
        "pull",
        gettext_lazy("What a pull downloads"),
        gettext_lazy("A host downloads only the layers it does not have."),
        (
            gettext_lazy(
                "Pulling an image asks the registry for its manifest, the list of its layers. "
                "The host downloads only the layers it does not hold yet, on the same parents: "
                "a layer already unpacked for another image is used as it is."
            ),
            gettext_lazy(
                "So the second image on a shared base costs only its own top layers, and a "
                "rebuild that changed an early step costs every layer from that step up."
            ),
        ),
        (PYTHON, SHOP, GALLERY),
        (
            View(
                gettext_lazy("A host with the Python base pulls the shop"),
                _store("lesson/", PYTHON, SHOP),
            ),
            View(
                gettext_lazy("A host with the shop pulls the gallery"),
                _store("lesson/", SHOP, GALLERY),
            ),
        ),
        (
            Question(
                gettext_lazy("A host has lesson/python:3.12. What does pulling the shop download?"),
                _pull(PYTHON, SHOP),
            ),
            Question(
                gettext_lazy("A host has the shop. What does pulling the gallery download?"),
                _pull(SHOP, GALLERY),
            ),
        ),
    ),
    Lesson(
        "writable",
        gettext_lazy("A container writes on a layer of its own"),
        gettext_lazy("Copy-on-write: a changed file is copied up whole; a deletion is a whiteout."),
        (
            gettext_lazy(
                "A container adds one thin writable layer on top of its image's read-only "
                "layers. Everything it writes goes there; the image never changes."
            ),
            gettext_lazy(
                "Changing a file from a lower layer first copies the whole file up, even for a "
                "chmod or one appended line. Deleting one records a whiteout. Many containers "
                "share one image, each with its own writable layer."
            ),
        ),
        (LAYERS,),
        (
            View(
                gettext_lazy("The container's writable layer"),
                _named("containers:container", "lesson-web-1", query="?recorded=1"),
            ),
            View(
                gettext_lazy("Every container, live and recorded"), _named("containers:containers")
            ),
            View(gettext_lazy("The image under it"), _page("explorer:image", LAYERS)),
        ),
        (
            Question(
                gettext_lazy("How many bytes did copy-on-write copy up in lesson-web-1?"),
                _copied_up("lesson-web-1"),
            ),
            Question(
                gettext_lazy("How many containers share the image's layers?"),
                _containers_sharing(LAYERS),
            ),
        ),
    ),
    Lesson(
        "whiteouts",
        gettext_lazy("Deleting does not remove: whiteouts"),
        gettext_lazy(
            "A deleted file, a deleted secret too, still ships in the layer that added it."
        ),
        (
            gettext_lazy(
                "A layer cannot change the layers below it. To delete a file it adds a "
                "whiteout, an empty entry named .wh.<name>, that hides the file from the "
                "merged view. The bytes stay in the layer that added them."
            ),
            gettext_lazy(
                "So a secret deleted in a later step can still be read by anyone who pulls the "
                "image. A directory emptied and filled again is marked opaque (.wh..wh..opq): "
                "everything below it is hidden, and still costs its bytes."
            ),
        ),
        (SECRET,),
        (
            View(
                gettext_lazy("The RUN that deleted the key, as its tar holds it"),
                _layer_of(SECRET, "deploy_key", raw=1, path="tmp"),
            ),
            View(
                gettext_lazy("The key through the layers"),
                _page("explorer:file", SECRET, path="tmp/deploy_key"),
            ),
            View(
                gettext_lazy("Step to the delete, and look the key up"),
                _step_of(SECRET, "rm /tmp/deploy_key", path="tmp/deploy_key"),
            ),
            View(
                gettext_lazy("The opaque directory"),
                _step_of(SECRET, "rm -rf /srv/data", path="srv/data"),
            ),
        ),
        (
            Question(
                gettext_lazy("The deploy key was deleted. Where are its bytes?"),
                _still_ships(SECRET, "tmp/deploy_key"),
            ),
            Question(
                gettext_lazy("Can the running image read /srv/data/customers-2022.csv?"),
                _read(SECRET, "srv/data/customers-2022.csv"),
            ),
        ),
    ),
    Lesson(
        "size",
        gettext_lazy("What makes an image big"),
        gettext_lazy(
            "Caches left behind, split RUN steps, chmod copies, the build context, builders."
        ),
        (
            gettext_lazy(
                "A layer keeps everything its step wrote, even what a later step deletes: "
                "deleting only hides it. So clean up in the same RUN that made the mess."
            ),
            gettext_lazy(
                "chmod or chown in a step of its own copies the whole file into a new layer. "
                "COPY . . copies .git and node_modules unless a .dockerignore leaves them "
                "out. A multi-stage build leaves its compilers in the builder stage."
            ),
        ),
        (APT_SPLIT, APT_MERGED, CHMOD, CONTEXT_ALL, CONTEXT_IGNORED, SINGLE, MULTI, BUILDER),
        (
            View(gettext_lazy("Split RUN against one RUN"), _compare(APT_SPLIT, APT_MERGED)),
            View(
                gettext_lazy("Where the split image wastes bytes"),
                _page("explorer:efficiency", APT_SPLIT),
            ),
            View(
                gettext_lazy("The chmod step's layer"), _page("explorer:image", CHMOD, mode="layer")
            ),
            View(
                gettext_lazy("With and without a .dockerignore"),
                _compare(CONTEXT_ALL, CONTEXT_IGNORED),
            ),
            View(gettext_lazy("Single-stage against multi-stage"), _compare(SINGLE, MULTI)),
            View(
                gettext_lazy("What the builder stage left behind"), _page("explorer:image", BUILDER)
            ),
        ),
        (
            Question(
                gettext_lazy("How much do the split RUN steps cost?"),
                _size_difference(APT_SPLIT, APT_MERGED),
            ),
            Question(
                gettext_lazy("How many bytes does the chmod step store again?"),
                _chmod_copy(CHMOD),
            ),
            Question(
                gettext_lazy("How much does the .dockerignore save?"),
                _size_difference(CONTEXT_ALL, CONTEXT_IGNORED),
            ),
            Question(
                gettext_lazy("How much does the multi-stage build save?"),
                _size_difference(SINGLE, MULTI),
            ),
        ),
    ),
    Lesson(
        "union",
        gettext_lazy("The union filesystem"),
        gettext_lazy(
            "Layers stacked bottom to top; a read is answered by the top-most that has the path."
        ),
        (
            gettext_lazy(
                "A container sees one filesystem: the layers laid on each other, the base at "
                "the bottom. To read a path, the top layer is asked first, then each one below, "
                "until a layer has it, or hides it with a whiteout."
            ),
            gettext_lazy(
                "Step through the layers and watch the tree grow; look a path up and see "
                "which layers a read checks and which one answers."
            ),
        ),
        (LAYERS, SECRET),
        (
            View(gettext_lazy("Step through the layers"), _page("explorer:steps", LAYERS)),
            View(
                gettext_lazy("Look up the app's config"),
                _step_of(LAYERS, "COPY app/", path="srv/app/config.ini"),
            ),
            View(
                gettext_lazy("Look up a file a whiteout hides"),
                _step_of(SECRET, "rm /tmp/deploy_key", path="tmp/deploy_key"),
            ),
        ),
        (
            Question(
                gettext_lazy("Which layer answers a read of /srv/app/config.ini?"),
                _read(LAYERS, "srv/app/config.ini"),
            ),
            Question(
                gettext_lazy("And of /etc/os-release?"),
                _read(LAYERS, "etc/os-release"),
            ),
            Question(
                gettext_lazy("And of /tmp/deploy_key in the secret image?"),
                _read(SECRET, "tmp/deploy_key"),
            ),
        ),
    ),
    Lesson(
        "cache",
        gettext_lazy("The build cache"),
        gettext_lazy("A changed step rebuilds itself and every step after it."),
        (
            gettext_lazy(
                "The builder reuses a step when its parent, its instruction and, for COPY and "
                "ADD, the copied files are the same as before. Change one, and that step and "
                "every later step are built again, and pushed and pulled again."
            ),
            gettext_lazy(
                "So put what rarely changes first: COPY requirements.txt and install, then "
                "COPY . . for the code. Here the same app is built twice in each order, with "
                "one line of code changed."
            ),
        ),
        (BAD_1, BAD_2, GOOD_1, GOOD_2),
        (
            View(
                gettext_lazy("Bad order: what changing the code rebuilds"),
                _what_if(BAD_1, BAD_2),
            ),
            View(gettext_lazy("Good order: the same change"), _what_if(GOOD_1, GOOD_2)),
            View(gettext_lazy("Bad order, the two builds compared"), _compare(BAD_1, BAD_2)),
            View(gettext_lazy("Good order, the two builds compared"), _compare(GOOD_1, GOOD_2)),
        ),
        (
            Question(
                gettext_lazy("In the bad order, what did the one-line change rebuild?"),
                _rebuilt(BAD_1, BAD_2),
            ),
            Question(
                gettext_lazy("And in the good order?"),
                _rebuilt(GOOD_1, GOOD_2),
            ),
        ),
    ),
)

BY_SLUG = {lesson.slug: lesson for lesson in LESSONS}
