"""What a trader writes about a round trip or a fill: strategy tag, setup, notes, emotion, confidence, screenshots.

``Annotation`` is the value; ``apply_changes(old, changes)`` checks a partial update and returns the
new value. A change names a field and its new value; ``None`` clears the field (the screenshots
become an empty list); fields not named keep their value (PATCH semantics).

Rules (each refusal is ``SpotlabError(INVALID_ARGUMENT)`` naming the field in ``details["field"]``,
and changes nothing):
- ``strategy``: a tag of 1-64 characters (surrounding spaces are stripped), e.g. ``"orb-5m"``;
- ``setup`` (up to 200 characters), ``emotion`` (up to 64, free text such as ``"calm"`` or
  ``"fomo"``) and ``notes`` (up to 10,000): text; an empty or blank value clears the field;
- ``confidence``: a whole number from 1 to 5;
- ``screenshots``: up to 20 links, each an absolute ``http`` or ``https`` URL with a host, at most
  2,048 characters, no spaces; repeated links are kept once, in the order given.
Unknown field names are refused with the list of known ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from spotlab.errors import ErrorCode, SpotlabError

TEXT_LIMITS = {"strategy": 64, "setup": 200, "emotion": 64, "notes": 10_000}
FIELDS = ("strategy", "setup", "notes", "emotion", "confidence", "screenshots")
MAX_SCREENSHOTS = 20
MAX_URL_LENGTH = 2048


@dataclass(frozen=True, slots=True)
class Annotation:
    strategy: str | None = None
    setup: str | None = None
    notes: str | None = None
    emotion: str | None = None
    confidence: int | None = None  # 1 (unsure) .. 5 (sure)
    screenshots: tuple[str, ...] = ()
    updated_ns: int = 0  # when it was last written (UTC ns)

    def to_dict(self) -> dict[str, Any]:
        """The fields (not the time) as plain values."""
        return {name: list(self.screenshots) if name == "screenshots" else getattr(self, name) for name in FIELDS}


def _refuse(field: str, message: str) -> SpotlabError:
    return SpotlabError(ErrorCode.INVALID_ARGUMENT, f"{field}: {message}", field=field)


def _text(field: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _refuse(field, f"expected text, got {type(value).__name__}")
    text = value.strip()
    if len(text) > TEXT_LIMITS[field]:
        raise _refuse(field, f"at most {TEXT_LIMITS[field]} characters, got {len(text)}")
    if field == "strategy" and any(not ch.isprintable() for ch in text):
        raise _refuse(field, "a tag must be printable characters on one line")
    return text or None


def _confidence(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise _refuse("confidence", f"a whole number from 1 to 5, got {value!r}")
    return value


def check_url(value: Any, field: str = "screenshots") -> str:
    """``value`` if it is an absolute http(s) URL with a host, else ``INVALID_ARGUMENT`` naming ``field``."""
    if not isinstance(value, str):
        raise _refuse(field, f"a link must be text, got {type(value).__name__}")
    if len(value) > MAX_URL_LENGTH:
        raise _refuse(field, f"a link is at most {MAX_URL_LENGTH} characters, got {len(value)}")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise _refuse(field, f"a link cannot contain spaces or control characters: {value[:80]!r}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise _refuse(field, f"not a valid URL: {value[:80]!r}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _refuse(field, f"links must be http:// or https:// URLs with a host, got {value[:80]!r}")
    return value


def _screenshots(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _refuse("screenshots", "expected a list of links")
    if len(value) > MAX_SCREENSHOTS:
        raise _refuse("screenshots", f"at most {MAX_SCREENSHOTS} links, got {len(value)}")
    return tuple(dict.fromkeys(check_url(link) for link in value))


def check_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes, checked and normalised (see the module docstring)."""
    checked: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in FIELDS:
            close = difflib.get_close_matches(name, FIELDS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise SpotlabError(
                ErrorCode.INVALID_ARGUMENT,
                f"unknown annotation field {name!r}{hint} (fields: {', '.join(FIELDS)})",
                field=name,
            )
        if name == "confidence":
            checked[name] = _confidence(value)
        elif name == "screenshots":
            checked[name] = _screenshots(value)
        else:
            checked[name] = _text(name, value)
    return checked


def apply_changes(old: Annotation | None, changes: Mapping[str, Any], now_ns: int) -> Annotation:
    """``old`` (or an empty annotation) with ``changes`` applied; refuses before changing anything."""
    checked = check_changes(changes)
    return replace(old or Annotation(), **checked, updated_ns=now_ns)
