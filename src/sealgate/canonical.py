"""Canonical JSON (RFC 8785) and strict JSON parsing for everything sealgate signs or logs.

Records, statements and registry entry documents are encoded with RFC 8785 (JCS) so that
the same value always has the same bytes; parsing is strict: duplicate keys, NaN and
non-finite numbers are refused, because two parsers that disagree on them would disagree on
what was signed.
"""

from __future__ import annotations

import json
from typing import Any

from sealgate.errors import MalformedInputError

__all__ = ["canonical_bytes", "loads_strict"]


def canonical_bytes(value: Any) -> bytes:
    """Return the RFC 8785 canonical encoding of ``value``.

    Raises :class:`MalformedInputError` for values JCS cannot represent (integers beyond
    2**53, NaN, non-string keys).
    """
    try:
        if _fast_path_applies(value):
            return _FAST_ENCODER.encode(value).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise MalformedInputError(f"value cannot be canonicalised as JSON: {exc}") from exc
    # The slow path is the reference implementation; imported only when a value needs it.
    import rfc8785

    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise MalformedInputError(f"value cannot be canonicalised as JSON: {exc}") from exc


# Fast path. For the values below, the C JSON encoder produces exactly the RFC 8785 bytes,
# several times faster than the pure-Python rfc8785 package (the audit log encodes every
# gate decision). Why each restriction makes the output identical:
#   * no floats at all: ECMAScript number formatting (RFC 8785 §3.2.2.3) differs from
#     Python's repr, so any float takes the slow path;
#   * integers (exact int, not bool subclasses or IntEnum) within ±(2**53 - 1) print as
#     plain decimal in both; outside that range rfc8785 refuses them, so they take the slow
#     path to raise the same error;
#   * strings: with ensure_ascii=False, json escapes exactly ", \ and U+0000..U+001F, using
#     \b \f \n \r \t and lowercase \u00XX otherwise: the same rule as RFC 8785 §3.2.2.2
#     (both use the regex [\x00-\x1f\\"\b\f\n\r\t]); lone surrogates fail to encode
#     to UTF-8 in both, raising ValueError;
#   * object keys: json sorts by code point, RFC 8785 §3.2.3 by UTF-16 code unit. The two
#     orders agree on strings of BMP characters (one code unit each) and differ only when a
#     supplementary character meets U+E000..U+FFFF, so keys with a character above U+FFFF
#     take the slow path;
#   * only exact dict/list/tuple containers, nested at most _FAST_MAX_DEPTH deep (this
#     also bounds cycles, which then reach rfc8785 and fail there as before).
# tests/audit/test_canonical_fast_path.py checks byte equality with rfc8785.dumps on
# generated values (hypothesis).
_FAST_ENCODER = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, check_circular=False
)
_FAST_MAX_DEPTH = 64
_FAST_INT_LIMIT = 2**53 - 1
_NONE_TYPE = type(None)
_STR_ONLY = {str}


def _fast_path_applies(value: Any, depth: int = 0) -> bool:
    kind = type(value)
    if kind is dict:
        if depth >= _FAST_MAX_DEPTH:
            return False
        if value:
            # Exact str keys only (a str subclass may sort or encode itself differently).
            if set(map(type, value)) != _STR_ONLY:
                return False
            keys = "".join(value)
            if not keys.isascii() and max(keys) > "\uffff":
                return False
        items = value.values()
    elif kind is list or kind is tuple:
        if depth >= _FAST_MAX_DEPTH:
            return False
        items = value
    else:
        return _fast_scalar(value, kind)
    # Scalars are checked inline: one function call per container, not per value.
    for item in items:
        item_kind = type(item)
        if item_kind is str or item_kind is bool or item is None:
            continue
        if item_kind is int:
            if -_FAST_INT_LIMIT <= item <= _FAST_INT_LIMIT:
                continue
            return False
        if not _fast_path_applies(item, depth + 1):
            return False
    return True


def _fast_scalar(value: Any, kind: type) -> bool:
    if kind is str or kind is bool or value is None:
        return True
    return kind is int and bool(-_FAST_INT_LIMIT <= value <= _FAST_INT_LIMIT)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise MalformedInputError(f"duplicate JSON key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise MalformedInputError(f"JSON constant {name} is not allowed")


def loads_strict(data: bytes | str, *, what: str = "JSON document", max_size: int = 16 << 20) -> Any:
    """Parse JSON, refusing duplicate keys, NaN/Infinity and documents over ``max_size`` bytes."""
    if len(data) > max_size:
        raise MalformedInputError(f"{what} is {len(data)} bytes, over the {max_size}-byte limit")
    try:
        return json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except MalformedInputError as exc:
        raise MalformedInputError(f"{what} is not valid: {exc.message}") from exc
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedInputError(f"{what} is not valid JSON: {exc}") from exc
