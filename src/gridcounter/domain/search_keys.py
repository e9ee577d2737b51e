"""Search keys: the text a customer or premise is found by, beyond the start of its fields.

A key is a run of words, each preceded by one space, so that "a word starts with q" can be written as the
pattern ``% q%``, which a trigram index answers even for two characters (the space pads the trigram):

- a customer: the name, the given name (the name without its one-character surname), the name's pinyin
  without tones or spaces (``wanghanli``), the given name's pinyin (``hanli``), the initials (``whl``) and the
  given name's initials (``hl``);
- a premise: the address and the building;
- for a Chinese name of three or four characters, one word per character: the name without it, after ``~`` and
  its position (``~1王丽`` for 王涵丽 without 涵): a name typed with that one character wrong has the same word,
  and ``% ~1王丽 %`` has trigrams of its own (a pattern ``王_丽`` would have only the surname's).

The key ends with a space too, so that ``% word %`` matches a whole word.

Text is normalised the same way for keys and for what the clerk types: NFKC (full-width letters and digits
become half-width), lower case, whitespace removed inside a word.
"""
from __future__ import annotations

import unicodedata

from pypinyin import Style, lazy_pinyin

MAX_KEY_LENGTH = 600


def normalise_text(text: str) -> str:
    """NFKC, lower case, no whitespace: how keys are stored and how queries are compared with them."""
    return "".join(unicodedata.normalize("NFKC", text or "").lower().split())


def _is_han(char: str) -> bool:
    return "\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff"


def _pinyin(text: str) -> tuple[str, str]:
    """(full pinyin without tones, initials) of the Chinese characters in ``text``; others are kept as they are."""
    syllables = [s for s in lazy_pinyin(text, style=Style.NORMAL, errors="default") if s.strip()]
    full = normalise_text("".join(syllables))
    initials = normalise_text("".join(s[0] for s in syllables if s and s[0].isalnum()))
    return full, initials


def _words(*words: str) -> str:
    seen: list[str] = []
    for word in words:
        if word and word not in seen:
            seen.append(word)
    return ("".join(" " + w for w in seen) + " ")[:MAX_KEY_LENGTH]


def customer_search_key(name: str) -> str:
    """The customer's words: name, given name, their pinyin and initials (see the module's text)."""
    full_name = normalise_text(name)
    if not full_name:
        return ""
    words = [full_name]
    if any(_is_han(c) for c in full_name):
        pinyin, initials = _pinyin(full_name)
        words += [pinyin, initials]
        if 2 <= len(full_name) <= 4 and all(_is_han(c) for c in full_name):
            given = full_name[1:]
            given_pinyin, given_initials = _pinyin(given)
            words += [given, given_pinyin, given_initials]
        words += one_typo_words(full_name)
    return _words(*words)


def premise_search_key(address: str, building: str = "") -> str:
    """The premise's words: its address and building."""
    return _words(normalise_text(address), normalise_text(building))


def one_typo_words(text: str) -> list[str]:
    """For a Chinese name of three or four characters: one word per character, the name without it after ``~``
    and its position. Two names of the same length with one character different share the word of that
    position. Other text gives none: one wrong character in two is another name."""
    if not 3 <= len(text) <= 4 or not all(_is_han(c) for c in text):
        return []
    return [f"~{i}{text[:i]}{text[i + 1:]}" for i in range(len(text))]
