"""The templates stay easy to read and change: no line runs off the screen."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

TEMPLATES = Path(settings.TEMPLATES[0]["DIRS"][0])
MAX_LINE = 200


def test_no_template_line_is_longer_than_200_characters():
    # A long line is where a tag, an attribute or a whole table row hides from review; break it
    # at a tag or attribute boundary (a translated text with {% blocktranslate trimmed %}, which
    # keeps its msgid) rather than raise the limit.
    paths = sorted(TEMPLATES.rglob("*.html"))
    assert paths, TEMPLATES
    too_long = [
        f"{path.relative_to(TEMPLATES)}:{number}: {len(line)} characters"
        for path in paths
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if len(line) > MAX_LINE
    ]
    assert not too_long, "\n".join(too_long)


def test_every_block_of_the_stylesheet_is_closed_where_it_should_be():
    # A rule block left open (a media query without its "}") silently takes every rule after
    # it into the block: they then apply on phones only.
    import re

    css = (Path(settings.BASE_DIR) / "static" / "css" / "app.css").read_text(encoding="utf-8")
    depth = 0
    for number, line in enumerate(re.sub(r"/\*.*?\*/", "", css, flags=re.S).splitlines(), 1):
        if depth == 0 and line.startswith(" ") and "{" in line:
            raise AssertionError(f"app.css:{number}: an indented rule outside any block")
        depth += line.count("{") - line.count("}")
        assert depth >= 0, f"app.css:{number}: a '}}' closes nothing"
        if line and not line[0].isspace() and depth > 1:
            raise AssertionError(f"app.css:{number}: a rule inside a block left open above it")
    assert depth == 0
