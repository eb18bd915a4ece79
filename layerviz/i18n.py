"""Translations compiled without GNU gettext.

The zh-Hans catalogue is kept as a ``.po`` file; the binary ``.mo`` Django reads is generated,
so it is not in the repository. A fresh machine may have no ``msgfmt``, so this module writes
``.mo`` files itself (the GNU format, as Python's own Tools/i18n/msgfmt.py does) whenever a
``.po`` is newer than its ``.mo``. The explorer app calls it at start-up.
"""

from __future__ import annotations

import ast
import struct
from pathlib import Path


def parse_po(text: str) -> dict[str, str]:
    """msgid (with context and plural joined the gettext way) -> msgstr; fuzzy entries skipped."""
    messages: dict[str, str] = {}
    entry: dict[str, list[str]] = {}
    key = ""
    fuzzy = False

    def complete() -> bool:
        return any(k.startswith("msgstr") for k in entry)

    def flush() -> None:
        nonlocal entry, fuzzy
        if "msgid" in entry and not fuzzy:
            msgid = "".join(entry["msgid"])
            if "msgid_plural" in entry:
                msgid += "\0" + "".join(entry["msgid_plural"])
                forms = sorted(k for k in entry if k.startswith("msgstr["))
                msgstr = "\0".join("".join(entry[k]) for k in forms)
            else:
                msgstr = "".join(entry.get("msgstr", []))
            if "msgctxt" in entry:
                msgid = "".join(entry["msgctxt"]) + "\x04" + msgid
            # Untranslated entries are left out, so gettext falls back to the English text.
            if msgstr.replace("\0", "") or msgid == "":
                messages[msgid] = msgstr
        entry = {}
        fuzzy = False

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if complete():
                flush()
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            continue
        if line.startswith('"'):
            entry[key].append(ast.literal_eval(line))
            continue
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid") and complete():
            flush()
        key = keyword
        entry[key] = [ast.literal_eval(rest.strip())]
    flush()
    return messages


def write_mo(messages: dict[str, str], path: Path) -> None:
    keys = sorted(messages)
    ids = b""
    strs = b""
    offsets = []
    for key in keys:
        k, v = key.encode(), messages[key].encode()
        offsets.append((len(ids), len(k), len(strs), len(v)))
        ids += k + b"\0"
        strs += v + b"\0"
    count = len(keys)
    key_start = 7 * 4 + 16 * count
    value_start = key_start + len(ids)
    table = []
    for key_offset, key_len, value_offset, value_len in offsets:
        table.append((key_len, key_start + key_offset, value_len, value_start + value_offset))
    out = struct.pack("Iiiiiii", 0x950412DE, 0, count, 7 * 4, 7 * 4 + count * 8, 0, 0)
    out += b"".join(struct.pack("ii", length, offset) for length, offset, _, _ in table)
    out += b"".join(struct.pack("ii", length, offset) for _, _, length, offset in table)
    path.write_bytes(out + ids + strs)


def compile_catalogues(root: Path) -> list[Path]:
    """Compile every ``.po`` under ``root`` whose ``.mo`` is missing or older."""
    written = []
    for po in root.glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        write_mo(parse_po(po.read_text(encoding="utf-8")), mo)
        written.append(mo)
    return written
