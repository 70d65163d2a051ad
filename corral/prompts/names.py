"""What a prompt name, a label, a reference and a text may look like, checked in one place.

Why strict: names and labels end up in URLs, audit targets, record extras and the
``name@label`` references of corral.yaml and of requests, so they are short ASCII slugs
that need no quoting anywhere. A label is never a number: ``name@3`` pins version 3.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from corral.core.errors import InvalidRequest

NAME_PATTERN = r"[a-z0-9][a-z0-9._-]{0,63}"
LABEL_PATTERN = r"[a-z][a-z0-9_-]{0,39}"
_NAME = re.compile(NAME_PATTERN)
_LABEL = re.compile(LABEL_PATTERN)
_VERSION = re.compile(r"[1-9][0-9]{0,8}")
_OWNER = re.compile(r"(key_[A-Za-z0-9]{1,60}|cli:[A-Za-z0-9._@-]{1,100})")

#: Longest prompt text, in UTF-8 bytes: a system prompt, not a document store.
MAX_TEXT_BYTES = 256 * 1024
MAX_NOTE_CHARS = 1000
MAX_DESCRIPTION_CHARS = 500
MAX_OWNERS = 20
MAX_PROTECTED = 10
DEFAULT_PROTECTED = ("production",)


def check_name(name: object, param: str = "name") -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidRequest(f"'{param}' must be a prompt name: 1-64 characters of a-z, 0-9, '.', '_' "
                             f"and '-', starting with a letter or digit; got {_show(name)}.", param=param)
    return name


def check_label(label: object, param: str = "label") -> str:
    if not isinstance(label, str) or not _LABEL.fullmatch(label):
        raise InvalidRequest(f"'{param}' must be a label: 1-40 characters of a-z, 0-9, '_' and '-', "
                             f"starting with a letter (production, staging, ...); got {_show(label)}.",
                             param=param)
    return label


def check_version(version: object, param: str = "version") -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 999_999_999:
        raise InvalidRequest(f"'{param}' must be a version number (a whole number from 1); "
                             f"got {_show(version)}.", param=param)
    return version


def check_text(text: object, param: str = "text") -> str:
    """A prompt's text: non-empty, at most MAX_TEXT_BYTES of UTF-8, no NUL (PostgreSQL refuses it)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest(f"'{param}' must be the prompt's text, a non-empty string.", param=param)
    if "\x00" in text:
        raise InvalidRequest(f"'{param}' contains a NUL character (\\u0000); remove it.", param=param)
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape
        raise InvalidRequest(f"'{param}' is not valid Unicode text.", param=param) from None
    if size > MAX_TEXT_BYTES:
        raise InvalidRequest(f"'{param}' is {size:,} bytes; a prompt may hold at most {MAX_TEXT_BYTES:,} "
                             "bytes (UTF-8).", param=param)
    return text


def check_note(note: object, param: str = "note", limit: int = MAX_NOTE_CHARS) -> str | None:
    if note is None:
        return None
    if not isinstance(note, str) or len(note) > limit or "\x00" in note:
        raise InvalidRequest(f"'{param}' must be a string of at most {limit:,} characters (no NUL).",
                             param=param)
    try:
        note.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequest(f"'{param}' is not valid Unicode text.", param=param) from None
    return note or None


def check_owner(owner: object, param: str = "owners") -> str:
    """An owner is a key id (``key_...``) or a command-line user (``cli:<os user>``)."""
    if not isinstance(owner, str) or not _OWNER.fullmatch(owner):
        raise InvalidRequest(f"'{param}' must list owners as key ids (key_...) or 'cli:<os user>'; "
                             f"got {_show(owner)}.", param=param)
    return owner


def check_str_list(value: object, param: str, limit: int) -> list[str]:
    if not isinstance(value, list) or len(value) > limit or not all(isinstance(v, str) for v in value):
        raise InvalidRequest(f"'{param}' must be a list of at most {limit} strings.", param=param)
    return list(dict.fromkeys(value))  # order kept, duplicates dropped


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class PromptRef:
    """``name@label`` (follows the label) or ``name@3`` (pins version 3)."""

    name: str
    label: str | None = None
    version: int | None = None

    def __str__(self) -> str:
        return f"{self.name}@{self.label if self.label is not None else self.version}"


def parse_ref(value: object, param: str = "prompt") -> PromptRef:
    """Parse a reference from corral.yaml or a request; a 400 naming ``param`` when malformed."""
    if isinstance(value, str):
        name, at, selector = value.partition("@")
        if at and _NAME.fullmatch(name):
            if _LABEL.fullmatch(selector):
                return PromptRef(name, label=selector)
            if _VERSION.fullmatch(selector):
                return PromptRef(name, version=int(selector))
    raise InvalidRequest(f"'{param}' must name a registry prompt as 'name@label' (support-agent@production) "
                         f"or 'name@version' (support-agent@3); got {_show(value)}.", param=param)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
