"""Text people choose (names, titles) made safe to show: one implementation for every door.

`display_text_clean` is what the certificate PDF draws, what the API and admin store, and what
the public verification page shows: NFC-normalised; control characters (tabs, newlines) become
spaces; invisible ones are removed: format characters (Cf: bidirectional overrides such as
U+202E, zero-width spaces and joiners U+200B-U+200D, the BOM), private-use, unassigned and lone
surrogates; runs of white space become one space. What remains renders the same everywhere, so
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


def display_text_clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = "".join(_INVISIBLE.get(unicodedata.category(char), char) for char in text)
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
