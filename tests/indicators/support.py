"""Helpers shared by the indicator tests."""

from __future__ import annotations

import pytest

from spotlab.errors import ErrorCode, SpotlabError


def assert_invalid(call, *words: str) -> None:
    """``call()`` is refused with ``INVALID_ARGUMENT`` and a message containing each of ``words``."""
    with pytest.raises(SpotlabError) as raised:
        call()
    assert raised.value.code is ErrorCode.INVALID_ARGUMENT
    for word in words:
        assert word in raised.value.message
