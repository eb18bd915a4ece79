"""What the commands print is safe on a terminal: control characters a hostile image puts in
its names are shown as escapes (``lib/terminal``). ``analyze --ci``, the one command that keeps
dive's bytes when piped, is tested against the real dive in ``test_analyze.py``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from layerviz.lib import synth
from layerviz.lib.tarwriter import file
from layerviz.lib.terminal import escaped, for_stream, is_terminal

from . import processes

APP = synth.layer([file("app/main.py", b"print(1)\n")])


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),  # CSI: clear the screen
        ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),  # OSC: retitle the window
        ("\x9b31m", "\\x9b31m"),  # C1 CSI
        ("\x85\x9f", "\\x85\\x9f"),  # C1, both ends
        ("a\x00b\x7f", "a\\x00b\\x7f"),  # NUL, DEL
        ("over\rwrite\x08", "over\\x0dwrite\\x08"),
        ("two\nlines\tand a tab", "two\\x0alines\\x09and a tab"),
        ("gnp.\u202eexe \u202a\u2066\u2069", "gnp.\\u202eexe \\u202a\\u2066\\u2069"),
        ("caf\udce9/\udcff", "caf\\xe9/\\xff"),  # bytes that are not UTF-8, as names.display
        ("\ud800", "\\ud800"),  # a lone surrogate that stands for no byte
        ("usr/lib/café ☃ résumé.txt", "usr/lib/café ☃ résumé.txt"),  # printable stays
    ],
)
def test_it_escapes_every_character_a_terminal_would_act_on_and_only_those(text, shown):
    assert escaped(text) == shown


def test_only_a_terminal_gets_the_escapes_where_the_bytes_must_stay(tmp_path: Path):
    terminal, attached = os.openpty()
    try:
        with open(attached, "w", closefd=False) as tty, open(tmp_path / "out", "w") as piped:
            assert is_terminal(tty) and not is_terminal(piped)
            assert for_stream(tty)("\x1b[2J") == "\\x1b[2J"
            assert for_stream(piped)("\x1b[2J") == "\x1b[2J"
    finally:
        os.close(terminal)
        os.close(attached)


@pytest.mark.django_db(transaction=True)
def test_ingest_shows_a_hostile_file_name_in_its_error_escaped(tmp_path: Path):
    # A folder where an archive was expected, named by someone who wants the terminal.
    hostile = tmp_path / "\x1b]0;owned\x07\x1b[2J\u202erahc.tar"
    hostile.mkdir()

    code, shown, err = processes.manage_on_a_terminal("ingest", f"docker-archive:{hostile}")

    assert code == 1
    assert f"{tmp_path}/\\x1b]0;owned\\x07\\x1b[2J\\u202erahc.tar is a directory" in err, err
    assert not any(c in err for c in "\x1b\x07\u202e")
    assert shown == b""


@pytest.mark.django_db(transaction=True)
def test_images_and_ingest_still_print_what_they_printed_on_a_terminal(tmp_path: Path):
    # Image names are references, checked at parse time: none can hold a control character,
    # so escaping them changes nothing a person sees; it guards against a check missed.
    archive = synth.write_docker_archive(
        tmp_path / "app.tar", [synth.Image([APP], tags=["lv/app:1"])], layout="docker25"
    )
    code, shown, err = processes.manage_on_a_terminal("ingest", f"docker-archive:{archive}")
    assert code == 0, err
    assert shown.startswith(b"lv/app:1 sha256:")

    code, shown, err = processes.manage_on_a_terminal("images")
    assert code == 0, err
    assert b"lv/app:1" in shown

    code, shown, err = processes.manage_on_a_terminal("images", "--json")
    assert json.loads(shown)[0]["references"] == ["lv/app:1"]
