"""The lessons: a list, and one page per lesson (catalog.py holds what they say and ask)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from . import catalog


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    rows = [(lesson, not catalog.load(lesson)[1]) for lesson in catalog.LESSONS]
    return render(request, "learn/index.html", {"rows": rows})


@require_GET
def lesson(request: HttpRequest, slug: str) -> HttpResponse:
    lesson = catalog.BY_SLUG.get(slug)
    if lesson is None:
        raise Http404(_("There is no lesson called %(slug)s.") % {"slug": slug})
    images, missing = catalog.load(lesson)
    index = catalog.LESSONS.index(lesson)
    context = {
        "lesson": lesson,
        "number": index + 1,
        "missing": missing,
        "previous": catalog.LESSONS[index - 1] if index else None,
        "next": catalog.LESSONS[index + 1] if index + 1 < len(catalog.LESSONS) else None,
        "views": [],
        "questions": [],
    }
    if not missing:
        context["views"] = [
            (view.label, url) for view in lesson.views if (url := catalog.reachable(view, images))
        ]
        context["questions"] = [(q.text, q.answer(images)) for q in lesson.questions]
    return render(request, "learn/lesson.html", context)
