"""Annotations: partial updates, clearing, and refusals that name the field and change nothing."""

from __future__ import annotations

import pytest

from spotlab.errors import ErrorCode, SpotlabError
from spotlab.journal.annotations import Annotation, apply_changes


def refused(changes, field, old=None):
    with pytest.raises(SpotlabError) as error:
        apply_changes(old, changes, 1)
    assert error.value.code is ErrorCode.INVALID_ARGUMENT and error.value.details["field"] == field
    assert field in error.value.message
    return error.value.message


def test_a_change_sets_only_the_fields_it_names_and_none_clears():
    first = apply_changes(None, {"strategy": " orb-5m ", "confidence": 4, "screenshots": ["https://x.org/a.png"]}, 5)
    assert first == Annotation(strategy="orb-5m", confidence=4, screenshots=("https://x.org/a.png",), updated_ns=5)
    second = apply_changes(first, {"notes": "waited for the retest", "confidence": None, "setup": "  "}, 9)
    assert (second.strategy, second.notes, second.confidence, second.setup) == ("orb-5m", "waited for the retest",
                                                                                None, None)  # fmt: skip
    assert second.screenshots == ("https://x.org/a.png",) and second.updated_ns == 9
    assert apply_changes(second, {"screenshots": None}, 10).screenshots == ()


def test_repeated_links_are_kept_once_in_order():
    links = ["http://a.example/1.png", "https://b.example/2", "http://a.example/1.png"]
    assert apply_changes(None, {"screenshots": links}, 1).screenshots == ("http://a.example/1.png",
                                                                           "https://b.example/2")  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"confidence": 0}, "confidence"),
        ({"confidence": 6}, "confidence"),
        ({"confidence": True}, "confidence"),
        ({"confidence": "3"}, "confidence"),
        ({"strategy": "x" * 65}, "strategy"),
        ({"strategy": "a\nb"}, "strategy"),
        ({"notes": 5}, "notes"),
        ({"emotion": "e" * 65}, "emotion"),
        ({"screenshots": "https://x.org/a.png"}, "screenshots"),
        ({"screenshots": ["ftp://x.org/a.png"]}, "screenshots"),
        ({"screenshots": ["javascript:alert(1)"]}, "screenshots"),
        ({"screenshots": ["https:///nohost"]}, "screenshots"),
        ({"screenshots": ["https://x.org/a b.png"]}, "screenshots"),
        ({"screenshots": ["https://x.org:99999/"]}, "screenshots"),
        ({"screenshots": [f"https://x.org/{i}" for i in range(21)]}, "screenshots"),
        ({"strategy": "ok", "confidance": 3}, "confidance"),
    ],
)
def test_bad_values_are_refused_naming_the_field(changes, field):
    refused(changes, field)


def test_a_misspelled_field_gets_a_suggestion():
    assert "did you mean 'confidence'" in refused({"confidance": 3}, "confidance")
