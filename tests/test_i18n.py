"""English and Simplified Chinese: the catalogue, the browser's language, the switcher."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from layerviz.explorer import note_words
from layerviz.images.models import Image, IngestJob, JobState
from layerviz.lib import layer, synth
from layerviz.lib.synth import Step
from layerviz.lib.tarwriter import file, whiteout

from .helpers import ingest_image, soup

CATALOGUE = Path(settings.LOCALE_PATHS[0]) / "zh_Hans" / "LC_MESSAGES" / "django.po"
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN"}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")

# English a page must no longer show once it is in Chinese: headings, labels, attributes
# (placeholder, title, aria-label, hx-confirm) and chart labels.
ENGLISH = [
    "Skip to content",
    "Shared layers",
    "Add an image",
    "Indexed images",
    "Pull from a registry",
    "Search by name or digest",
    "Delete this image?",
    "Layer stack",
    "in build order, base first",
    "This layer's changes",
    "Filesystem as of this layer",
    "Path contains",
    "files added",
    "uncompressed",
    "Copy sha256:",
    "Compare two images",
    "What they share",
    "Files that differ",
    "only in B",
    "Layers shared across the store",
    "Pull planner",
    "Why the bytes are wasted",
    "Inefficient files",
    "dive's figures",
    "APT package lists and archives left in the image",
    "deleted later",
    "Every layer that touched this path",
    "Most shared layers",
    "whiteouts as in the tar",
    "metadata-only change",
    "Changes of content only",
    "read back from the image's history",
    "From the cache",
    "change this step",
    "Learn how image layers work",
    "Keyboard shortcuts",
    "Auto colours",
    "Exit presentation",
]


# --- the catalogue ---------------------------------------------------------------------------


@dataclasses.dataclass
class Entry:
    flags: list[str]
    fields: dict[str, str]

    @property
    def msgid(self) -> str:
        return self.fields["msgid"]

    @property
    def translations(self) -> list[str]:
        return [v for k, v in self.fields.items() if k.startswith("msgstr")]


def _entries(text: str) -> list[Entry]:
    """Every entry of a .po file with its flags (``#, fuzzy``) and fields, continuations joined."""
    entries = []
    for block in text.strip().split("\n\n"):
        flags: list[str] = []
        fields: dict[str, str] = {}
        key = ""
        for line in block.splitlines():
            if line.startswith("#,"):
                flags += [f.strip() for f in line[2:].split(",")]
            elif line.startswith('"'):
                fields[key] += ast.literal_eval(line)
            elif line and not line.startswith("#"):
                key, _, rest = line.partition(" ")
                fields[key] = ast.literal_eval(rest)
        entries.append(Entry(flags, fields))
    return entries


@pytest.fixture(scope="module")
def catalogue() -> list[Entry]:
    return _entries(CATALOGUE.read_text(encoding="utf-8"))


def test_the_catalogue_header_names_the_language_and_its_single_plural_form(catalogue):
    header = catalogue[0]
    assert header.msgid == ""
    assert "fuzzy" not in header.flags
    assert "Language: zh_Hans\n" in header.fields["msgstr"]
    assert "Plural-Forms: nplurals=1; plural=0;\n" in header.fields["msgstr"]


def test_every_entry_of_the_catalogue_is_translated_and_none_is_fuzzy(catalogue):
    messages = catalogue[1:]
    assert len(messages) > 250
    assert [m.msgid for m in messages if "fuzzy" in m.flags] == []
    assert [m.msgid for m in messages if not all(m.translations)] == []


def test_plural_entries_have_exactly_the_one_chinese_form(catalogue):
    plurals = [m for m in catalogue if "msgid_plural" in m.fields]
    assert plurals
    for message in plurals:
        assert [k for k in message.fields if k.startswith("msgstr")] == ["msgstr[0]"]


def test_every_translation_keeps_the_placeholders_of_its_english_text(catalogue):
    wrong = []
    for message in catalogue[1:]:
        english = set(PLACEHOLDER.findall(message.msgid))
        english |= set(PLACEHOLDER.findall(message.fields.get("msgid_plural", "")))
        for text in message.translations:
            if set(PLACEHOLDER.findall(text)) != english:
                wrong.append((message.msgid, text))
    assert wrong == []


def test_every_layer_flag_has_words_and_those_words_a_chinese_translation(catalogue):
    codes = [*layer.FLAG_CODES.values(), layer.NO_END_MARKER, layer.GZIP_PADDING]
    translated = {m.msgid for m in catalogue if all(m.translations)}
    with translation.override("en"):
        words = {code: str(note_words.FLAGS[code]) for code in codes if code in note_words.FLAGS}
    assert sorted(words) == sorted(codes)
    assert [w for w in words.values() if w not in translated] == []


# --- pages in Chinese ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _english_again():
    """Requests activate the language they ask for; leave the thread as the next test expects."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


BASE = synth.layer([file("bin/sh", b"s" * 4000, mode=0o755), file("etc/os-release", b"v1\n")])


@pytest.fixture
def pair(tmp_path) -> tuple[Image, Image]:
    """Two releases on one base; the first left an apt cache and deleted a file too late."""
    v1 = ingest_image(
        tmp_path,
        "lv/app:1.0",
        [
            BASE,
            synth.layer(
                [
                    file("var/lib/apt/lists/x", b"l" * 900),
                    file("app/cache/blob", b"y" * 5000),
                    file("app/main.py", b"print(1)\n"),
                    file("app/run.sh", b"run\n", mode=0o644),
                ]
            ),
            synth.layer([whiteout("app/cache"), file("etc/os-release", b"v2\n")]),
        ],
        [
            Step("ADD rootfs /"),
            Step("ENV A=1", empty_layer=True),
            Step("RUN /bin/sh -c apt-get install -y x"),
            Step("RUN /bin/sh -c rm -rf /app/cache"),
        ],
        env=["A=1"],
    )
    v2 = ingest_image(
        tmp_path,
        "lv/app:2.0",
        [
            BASE,
            synth.layer(
                [
                    file("app/main.py", b"print(2)\n"),
                    file("app/new.txt", b"n"),
                    # the same script made executable: a metadata-only change
                    file("app/run.sh", b"run\n", mode=0o755),
                ]
            ),
        ],
        [Step("ADD rootfs /"), Step("COPY . /app")],
        env=["A=2"],
    )
    return v1, v2


def _pages(v1: Image, v2: Image) -> dict[str, str]:
    image = reverse("explorer:image", args=[v1.digest])
    return {
        "images": reverse("explorer:images"),
        "image": image,
        "merged": f"{image}?layer=2&mode=merged&path=app",
        "raw": f"{image}?layer=2&raw=1&path=app",
        "compare": f"{reverse('compare:compare')}?a={v1.digest}&b={v2.digest}",
        "pick": reverse("compare:compare"),
        "store": reverse("compare:store"),
        "efficiency": reverse("explorer:efficiency", args=[v1.digest]),
        "file": f"{reverse('explorer:file', args=[v1.digest])}?path=etc/os-release",
        "dockerfile": f"{reverse('explorer:dockerfile', args=[v1.digest])}?change=2",
        "lessons": reverse("learn:index"),
        "lesson": reverse("learn:lesson", args=["sharing"]),
        "presenting": reverse("learn:index") + "?present=1",
    }


def _strings(page: BeautifulSoup) -> list[str]:
    """What a reader sees or hears: text (chart data included) and the attributes read aloud."""
    texts = [str(s) for s in page.find_all(string=True)]
    for tag in page.find_all(True):
        for name in ("title", "aria-label", "placeholder", "hx-confirm"):
            if tag.get(name):
                texts.append(tag[name])
    return texts


@pytest.mark.django_db
def test_a_browser_asking_for_chinese_gets_the_home_page_in_chinese(client: Client, pair):
    page = soup(client.get(reverse("explorer:images"), **ZH))

    assert page.html["lang"] == "zh-hans"
    assert page.select_one("#add-title").get_text(strip=True) == "添加镜像"
    assert page.select_one("#list-title").get_text(strip=True) == "已索引的镜像"
    assert page.select_one("#language option[selected]")["value"] == "zh-hans"


@pytest.mark.django_db
def test_an_image_page_is_in_chinese_with_its_chart_labels(client: Client, pair):
    v1, _ = pair
    page = soup(client.get(reverse("explorer:image", args=[v1.digest]), **ZH))

    assert page.html["lang"] == "zh-hans"
    assert page.select_one("#stack-title").contents[0].strip() == "层栈"
    assert page.select_one("#panel-title").get_text(strip=True) == "第 3 层"
    assert [label.get_text(strip=True) for label in page.select(".kind-filter label")] == [
        "新增",
        "修改",
        "删除",
        "未更改",
    ]
    chart = json.loads(page.select_one("#size-chart-data").string)
    # The compressed part of each stacked bar; both sizes are named in its hover text.
    assert chart["data"][0]["name"] == "压缩后"
    hover = chart["data"][0]["hovertemplate"]
    assert "压缩后" in hover and "未压缩" in hover


@pytest.mark.django_db
def test_the_compare_page_is_in_chinese(client: Client, pair):
    v1, v2 = pair
    page = soup(client.get(reverse("compare:compare"), {"a": v1.digest, "b": v2.digest}, **ZH))

    assert page.html["lang"] == "zh-hans"
    assert page.h1.get_text(strip=True) == "比较两个镜像"
    assert page.select_one("#numbers-title").get_text(strip=True) == "共享情况"
    assert page.select_one("#files-title").get_text(strip=True) == "不同的文件"
    assert page.select_one("tr.diverge").get_text(strip=True) == "它们从第 2 层开始分叉"


@pytest.mark.django_db
def test_the_efficiency_page_is_in_chinese_advice_included(client: Client, pair):
    v1, _ = pair
    page = soup(client.get(reverse("explorer:efficiency", args=[v1.digest]), **ZH))

    assert page.html["lang"] == "zh-hans"
    assert page.select_one("#efficiency-title").get_text(strip=True) == "效率"
    titles = [strong.get_text(strip=True) for strong in page.select(".finding-head strong")]
    assert "镜像中残留了 APT 软件包列表和安装包" in titles
    reasons = [th.get_text(strip=True) for th in page.select("table.reasons th")]
    assert reasons[0] == "之后被删除"


@pytest.mark.django_db
def test_dive_figures_it_cannot_give_read_not_applicable_in_chinese(client: Client, tmp_path):
    single = ingest_image(
        tmp_path, "lv/one:1", [synth.layer([file("a", b"1")])], [Step("ADD rootfs /")]
    )
    page = soup(client.get(reverse("explorer:efficiency", args=[single.digest]), **ZH))

    facts = {
        div.dt.get_text(strip=True): div.dd.get_text(strip=True) for div in page.select("dl div")
    }
    assert facts["用户层浪费比例"] == "不适用"


@pytest.mark.django_db
def test_every_page_in_chinese_is_free_of_the_english_ui_text(client: Client, pair):
    for name, url in _pages(*pair).items():
        texts = _strings(soup(client.get(url, **ZH)))
        left = [phrase for phrase in ENGLISH if any(phrase in text for text in texts)]
        assert left == [], name


@pytest.mark.django_db
def test_the_same_pages_in_english_still_show_the_english_text(client: Client, pair):
    """The check above is only worth something if those phrases are on the English pages."""
    seen = set()
    for url in _pages(*pair).values():
        texts = _strings(soup(client.get(url)))
        seen |= {phrase for phrase in ENGLISH if any(phrase in text for text in texts)}
    assert seen == set(ENGLISH)


@pytest.mark.django_db
def test_a_running_ingest_shows_its_phase_in_chinese(client: Client):
    reading = IngestJob.objects.create(source="docker://x", state=JobState.RUNNING, phase="reading")
    waiting = IngestJob.objects.create(
        source="docker://y",
        state=JobState.RUNNING,
        phase="waiting",
        phase_args={"layer_label": "layer 2 (sha256:abc)"},
    )
    other = IngestJob.objects.create(
        source="docker://z", state=JobState.RUNNING, phase="unheard of"
    )

    def state(job: IngestJob, **headers) -> str:
        return (
            soup(client.get(reverse("explorer:job", args=[job.pk]), **headers))
            .select_one(".state")
            .get_text(strip=True)
        )

    assert state(reading, **ZH) == "正在读取"
    assert state(waiting, **ZH) == "正在等待另一个工作进程处理完 layer 2 (sha256:abc)"
    assert state(other, **ZH) == "unheard of"
    assert state(waiting) == "waiting for another worker to finish layer 2 (sha256:abc)"


@pytest.mark.django_db
def test_messages_and_form_errors_from_the_views_are_in_chinese(client: Client, pair):
    v1, _ = pair
    response = client.post(reverse("explorer:delete", args=[v1.digest]), follow=True, **ZH)
    assert soup(response).select_one(".messages li").get_text(strip=True) == (
        "已删除 lv/app:1.0。其他镜像使用的层已保留。"
    )

    response = client.post(reverse("explorer:add"), {"kind": "registry", "reference": ""}, **ZH)
    assert response.status_code == 422
    errors = [
        p.get_text(strip=True)
        for p in BeautifulSoup(response.content, "html.parser").select(".error")
    ]
    assert errors == ["请填写要读取的镜像，例如 python:3.12-slim。"]


# --- the switcher ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_switcher_turns_the_pages_chinese_and_back(client: Client):
    home = reverse("explorer:images")

    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": home})
    assert response.status_code == 302 and response["Location"] == home
    page = soup(client.get(home))
    assert page.html["lang"] == "zh-hans"
    assert page.select_one("#add-title").get_text(strip=True) == "添加镜像"
    assert page.select_one("form.lang button").get_text(strip=True) == "切换"

    client.post(reverse("set_language"), {"language": "en", "next": home})
    page = soup(client.get(home, **ZH))  # the choice outranks the browser's language
    assert page.html["lang"] == "en"
    assert page.select_one("#add-title").get_text(strip=True) == "Add an image"
    assert page.select_one("form.lang button").get_text(strip=True) == "Change"
