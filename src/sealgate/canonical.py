"""Canonical JSON (RFC 8785) and strict JSON parsing for everything sealgate signs or logs.

Records, statements and registry entry documents are encoded with RFC 8785 (JCS) so that
the same value always has the same bytes; parsing is strict: duplicate keys, NaN and
non-finite numbers are refused, because two parsers that disagree on them would disagree on
what was signed.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from sealgate.errors import MalformedInputError

__all__ = ["canonical_bytes", "loads_strict"]


def canonical_bytes(value: Any) -> bytes:
    """Return the RFC 8785 canonical encoding of ``value``.

    Raises :class:`MalformedInputError` for values JCS cannot represent (integers beyond
    2**53, NaN, non-string keys).
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise MalformedInputError(f"value cannot be canonicalised as JSON: {exc}") from exc


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
