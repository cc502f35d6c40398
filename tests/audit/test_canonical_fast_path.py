"""The RFC 8785 fast path in ``sealgate.canonical`` is byte-identical to the ``rfc8785`` package.

The audit log encodes every decision, so ``canonical_bytes`` uses the C JSON encoder when
that provably gives the JCS bytes. These properties compare it with ``rfc8785.dumps`` on
generated values, deliberately rich in the cases where the two could differ: control
characters and escapes, keys outside the BMP next to keys in U+E000..U+FFFF (UTF-16 vs code
point order), integers at the 2**53 boundary, floats, lone surrogates, bool and int
subclasses.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import pytest
import rfc8785
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sealgate.canonical import _fast_path_applies, canonical_bytes
from sealgate.errors import MalformedInputError

# Characters where JSON encoders and sort orders disagree most often.
_tricky_chars = st.sampled_from(
    ["\x00", "\x1f", "\x7f", '"', "\\", "/", "\b", "\f", "\n", "\r", "\t", "\u2028", "\ue000", "\uffff",
     "\U00010000", "\U0001f600", "\U0010ffff", "é", "a", "Z", "0"]
)  # fmt: skip
_text = st.one_of(
    st.text(max_size=12),
    st.lists(_tricky_chars, max_size=6).map("".join),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=2),  # lone surrogates
)
_limit = 2**53
_integers = st.one_of(
    st.integers(-1000, 1000), st.integers(_limit - 3, _limit + 3), st.integers(-_limit - 3, -_limit + 3), st.integers()
)


class _Color(enum.IntEnum):
    RED = 1


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    _integers,
    _text,
    st.floats(allow_nan=False, allow_infinity=False),
    st.just(_Color.RED),
)
_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(_text, children, max_size=5),
    ),
    max_leaves=25,
)


def _reference(value: Any) -> bytes | type[Exception]:
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return MalformedInputError


def _ours(value: Any) -> bytes | type[Exception]:
    try:
        return canonical_bytes(value)
    except MalformedInputError:
        return MalformedInputError


@settings(max_examples=250, deadline=None)
@given(_values)
@example({"\U0001f600": 1, "\ue000": 2})  # UTF-16 order puts the emoji first; code point order does not
@example({"a": 2**53 - 1, "b": -(2**53) + 1, "c": 2**53})
@example({"k": "\x00\x1f\u007f\u2028", "\n": ["\b\f\r\t", '"\\/']})
@example({"\ud800": 1})
@example([True, 1, _Color.RED, 1.0, -0.0, 1e21, 5e-324])
def test_fast_path_bytes_equal_rfc8785(value: Any) -> None:
    assert _ours(value) == _reference(value)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _values, max_size=8))
def test_fast_path_objects_equal_rfc8785(value: dict[str, Any]) -> None:
    assert _ours(value) == _reference(value)


def test_fast_path_is_taken_for_a_typical_decision_record() -> None:
    record: dict[str, Any] = {
        "_type": "sealgate/decision/v1",
        "allowed": True,
        "reason": "allowed",
        "subject": {"name": "tools/acme/hello/1.0.0", "digest": "ab" * 32},
        "registry_version": 42,
        "interface": "mcp",
        "taint": ["llm-output"],
        "findings": [],
        "note": "naïve ünïcode and a\ttab",
    }
    assert _fast_path_applies(record)
    assert canonical_bytes(record) == rfc8785.dumps(record)


@pytest.mark.parametrize(
    "value",
    [{"f": 1.5}, {"i": 2**53}, {"\U0001f600": 1}, {"e": _Color.RED}, {1: "x"}, {"deep": [[[[]]]] * 2}],
)
def test_values_outside_the_fast_path_still_match(value: Any) -> None:
    assert _ours(value) == _reference(value)


def test_deep_nesting_falls_back_to_rfc8785() -> None:
    deep: Any = "leaf"
    for _ in range(100):
        deep = [deep]
    assert not _fast_path_applies(deep)
    assert canonical_bytes(deep) == rfc8785.dumps(deep)


# --- the audit log's check of already-encoded records uses the same reasoning -------------


def _is_canonical_object(data: bytes) -> bool:
    """The slow oracle: parse as RFC 8785 reads numbers (doubles beyond 2**53) and re-encode with rfc8785."""

    def number(text: str) -> int | float:
        value = int(text)
        return value if abs(value) < 2**53 else float(text)

    def constant(name: str) -> float:
        raise ValueError(name)

    try:
        value = json.loads(data.decode("utf-8"), parse_int=number, parse_constant=constant)
        return isinstance(value, dict) and bytes(rfc8785.dumps(value)) == data
    except (ValueError, RecursionError, rfc8785.CanonicalizationError):
        return False


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_text, _values, max_size=6), st.booleans())
def test_canonical_record_check_accepts_exactly_the_rfc8785_bytes(value: dict[str, Any], sort: bool) -> None:
    from sealgate.audit import check_canonical_record

    reference = _reference(value)
    candidates = [reference] if isinstance(reference, bytes) else []
    for text in (
        json.dumps(value, sort_keys=sort, separators=(",", ":"), ensure_ascii=False),
        json.dumps(value, sort_keys=sort, separators=(",", ":"), ensure_ascii=True),
        json.dumps(value, sort_keys=sort),
    ):
        try:
            candidates.append(text.encode("utf-8"))
        except UnicodeEncodeError:
            continue
    for data in candidates:
        if _is_canonical_object(data):
            assert check_canonical_record(data) == data
        else:
            with pytest.raises(MalformedInputError):
                check_canonical_record(data)
    if isinstance(reference, bytes):
        assert _is_canonical_object(reference)


@pytest.mark.parametrize(
    "data",
    [b'{"a":"\\ud800"}', b'{"a":1e400}', b'{"a":Infinity}', b'{"n":9007199254740993}', b'{"n":1e0}', b'{"n":-0}'],
)
def test_canonical_record_check_refuses_unrepresentable_and_noncanonical_numbers(data: bytes) -> None:
    from sealgate.audit import check_canonical_record

    with pytest.raises(MalformedInputError):
        check_canonical_record(data)


@pytest.mark.parametrize(
    "value", [{"f": 1.5, "g": 1e21}, {"\U0001f600": 1, "\ue000": 2}, {"n": 9007199254740991}, {"d": 2.0**53}]
)
def test_canonical_record_check_accepts_floats_big_ints_and_astral_keys(value: dict[str, Any]) -> None:
    from sealgate.audit import check_canonical_record

    data = rfc8785.dumps(value)
    assert check_canonical_record(data) == data
