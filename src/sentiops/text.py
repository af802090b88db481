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
# Characters that take no space: a text made only of these (and whitespace) says nothing.
_INVISIBLE = re.compile(r"[\s\u200b-\u200f\u2028-\u202f\u2060-\u206f\ufeff\u00ad\u180e]+")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


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


def text_problem(text: str) -> str | None:
    """Why a text cannot be scored, or None when it can. One rule for the API and every reader.

    A lone surrogate (invalid Unicode that JSON can still carry as "\\ud800") makes the
    tokenizer raise, a NUL byte is never tweet text, and a text of only zero-width characters
    has nothing to classify.
    """
    if _SURROGATE.search(text):
        return "invalid Unicode (lone surrogate)"
    if "\x00" in text:
        return "contains a NUL character"
    if not _INVISIBLE.sub("", text):
        return "empty text" if not text.strip() else "no visible characters (only whitespace or zero-width)"
    return None


def dedup_key(text: str) -> str:
    """What counts as the same tweet: the cleaned words without mentions and links, ignoring
    case, so a copy that only adds, drops or changes a mention or a link is the same tweet."""
    words = clean_text(text).casefold().split()
    return " ".join(w for w in words if w not in (USER_TOKEN, URL_TOKEN))
