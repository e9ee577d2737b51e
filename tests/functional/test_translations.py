"""The Chinese catalogue is complete: every message of the app has a reviewed (not fuzzy) translation.

Read with a small parser of the .po format (msgctxt/msgid/msgid_plural/msgstr[n], continued lines, flags), so the
check needs nothing beyond the standard library. Run `gridcounter makemessages -l zh_Hans --ignore=.venv` first
when templates or code gained new text; this test then names what is left to translate.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import gridcounter

pytestmark = pytest.mark.nodb

CATALOGUE = Path(gridcounter.__file__).resolve().parent / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+"(.*)"\s*$')
CONTINUATION = re.compile(r'^"(.*)"\s*$')


def entries(text: str) -> list[dict]:
    """Each live entry as {"fields": {keyword: text}, "flags": set, "line": first line number}."""
    out = []
    line_no = 0
    for block in re.split(r"\n[ \t]*\n", text):
        lines = block.splitlines()
        start, line_no = line_no + 1, line_no + len(lines) + 1
        if all(line.startswith("#~") or not line.strip() for line in lines):
            continue  # obsolete entries are kept by gettext but never shown
        fields: dict[str, str] = {}
        flags: set[str] = set()
        current = None
        for line in lines:
            if line.startswith("#,"):
                flags |= {flag.strip() for flag in line[2:].split(",")}
                continue
            if line.startswith("#"):
                continue
            if match := KEYWORD.match(line):
                current = match.group(1)
                fields[current] = match.group(2)
            elif (match := CONTINUATION.match(line)) and current:
                fields[current] += match.group(1)
        if "msgid" in fields:
            out.append({"fields": fields, "flags": flags, "line": start})
    return out


def problems(text: str) -> list[str]:
    found = []
    for entry in entries(text):
        fields = entry["fields"]
        if fields["msgid"] == "" and "msgctxt" not in fields:
            continue  # the header
        translations = [value for key, value in fields.items() if key.startswith("msgstr")]
        if "fuzzy" in entry["flags"]:
            found.append(f"line {entry['line']}: fuzzy: {fields['msgid'][:80]!r}")
        elif not translations or any(value == "" for value in translations):
            found.append(f"line {entry['line']}: untranslated: {fields['msgid'][:80]!r}")
    return found


def test_every_message_has_a_reviewed_chinese_translation():
    text = CATALOGUE.read_text(encoding="utf-8")

    assert len(entries(text)) > 500  # the catalogue was read, not an empty file
    assert problems(text) == []


def test_the_check_notices_an_empty_and_a_fuzzy_entry():
    sample = '\n'.join([
        'msgid ""', 'msgstr ""', '"Plural-Forms: nplurals=1; plural=0;\\n"', '',
        'msgid "Save"', 'msgstr "保存"', '',
        'msgid "Close"', 'msgstr ""', '',
        '#, fuzzy, python-format', '#| msgid "Meter"', 'msgid "Meter fault"', 'msgstr "电能表"', '',
        'msgid "%(n)s held bill"', 'msgid_plural "%(n)s held bills"', 'msgstr[0] ""', '',
        'msgid ""', '"A long message "', '"on two lines"', 'msgstr ""', '"一条"', '"长消息"', '',
        '#~ msgid "Old"', '#~ msgstr ""',
    ])

    found = problems(sample)

    assert [p.split(": ", 1)[1] for p in found] == [
        "untranslated: 'Close'", "fuzzy: 'Meter fault'", "untranslated: '%(n)s held bill'"]
