"""The one text-cleaning function, shared by training and every kind of inference.

Training and serving must see text the same way, so nothing else in the project cleans text.
"""

from __future__ import annotations

import html
import re

USER_TOKEN = "@user"
URL_TOKEN = "http"

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<!\w)@\w+")
_SPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Decode HTML entities, replace URLs and @mentions with placeholders, collapse whitespace.

    Placeholders are plain words the uncased WordPiece vocabulary already knows, so they cost
    one token each instead of being split into pieces.
    """
    text = html.unescape(text)
    text = _URL.sub(URL_TOKEN, text)
    text = _MENTION.sub(USER_TOKEN, text)
    return _SPACE.sub(" ", text).strip()


def is_placeholder_only(cleaned: str) -> bool:
    """True when a cleaned text holds nothing but URL/mention placeholders (or nothing)."""
    return all(word in (USER_TOKEN, URL_TOKEN) for word in cleaned.split())
