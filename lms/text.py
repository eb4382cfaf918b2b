"""Text people choose (names, titles) made safe to show: one implementation for every door.

`display_text_clean` is what the certificate PDF draws, what the API and admin store, and what
the public verification page shows: NFC-normalised; control characters (tabs, newlines) become
spaces; invisible ones are removed: format characters (Cf: bidirectional overrides such as
U+202E, zero-width spaces U+200B, the BOM), private-use, unassigned and lone surrogates; runs of
white space become one space. The zero-width non-joiner and joiner (U+200C, U+200D) stay only
inside a word, between two letters: Persian and Indic names use them to choose a letter form
(HarfBuzz obeys them), and there they cannot hide or reorder anything. What remains renders the same everywhere, so
a name cannot read differently from what it is (U+202E turns "gpj.exe" into "exe.jpg").

`person_name_clean` adds the rules for a person's name (registration, admin): not empty, at
most PERSON_NAME_MAX_LENGTH characters, and no web address, since names are printed in e-mails
where mail clients turn any URL into a link ("Your account is locked. Confirm at http://...").
"""

import re
import unicodedata

from django.core.exceptions import ValidationError

_INVISIBLE = {"Cc": " ", "Cf": "", "Co": "", "Cn": "", "Cs": ""}

# Long enough for real names in any script (Django's own first_name allows 150).
PERSON_NAME_MAX_LENGTH = 150
# A scheme ("http://", "mailto:"), "www.", or a host with a path ("evil.example/login").
_WEB_ADDRESS = re.compile(r"[a-z][a-z0-9+.-]*://|\bwww\.|\b(?:mailto|javascript|data):|\w\.[a-z]{2,}/", re.IGNORECASE)


_JOINERS = frozenset("\u200c\u200d")


def _in_word(text: str, index: int) -> bool:
    def letter(char: str) -> bool:
        return unicodedata.category(char)[0] in "LM"

    return 0 < index < len(text) - 1 and letter(text[index - 1]) and letter(text[index + 1])


def display_text_clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = "".join(
        char if char in _JOINERS and _in_word(text, index) else _INVISIBLE.get(unicodedata.category(char), char)
        for index, char in enumerate(text)
    )
    return " ".join(text.split())


def person_name_clean(name: str) -> str:
    """The name as it will be stored and shown; ValidationError if it cannot be a name."""
    cleaned = display_text_clean(name)
    if not cleaned:
        raise ValidationError("Enter a name.", code="blank")
    if len(cleaned) > PERSON_NAME_MAX_LENGTH:
        raise ValidationError(f"A name is at most {PERSON_NAME_MAX_LENGTH} characters long.", code="max_length")
    if _WEB_ADDRESS.search(cleaned):
        raise ValidationError("A name cannot contain a web address.", code="web_address")
    return cleaned
