"""The decision record's timestamp: the gate's fast formatter agrees with datetime's."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from sealgate.gate._gate import _rfc3339


def _reference(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_timestamp_matches_datetime(ts: float) -> None:
    assert _rfc3339(ts) == _reference(ts)


@given(st.integers(min_value=0, max_value=4_102_444_800), st.integers(min_value=0, max_value=2_000_000))
def test_timestamp_rounds_half_microseconds_as_datetime_does(second: int, halves: int) -> None:
    ts = second + halves / 2_000_000
    assert _rfc3339(ts) == _reference(ts)


def test_timestamp_carries_into_the_next_second() -> None:
    for ts in (1_763_780_000.9999996, 0.9999995, 1_763_780_000.0000005):
        assert _rfc3339(ts) == _reference(ts)
    # The per-second cache must not hand one second's text to the next.
    assert _rfc3339(1_763_780_000.5) == "2025-11-22T02:53:20.500000Z"
    assert _rfc3339(1_763_780_001.5) == "2025-11-22T02:53:21.500000Z"
