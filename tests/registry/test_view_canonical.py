"""Canonical JSON: the view's encoder is byte-identical to securesystemslib's ``encode_canonical``.

A signature verifies only over the exact bytes python-tuf signed, so any difference would
either reject valid metadata or (worse) let two parsers disagree on what was signed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from securesystemslib.exceptions import FormatError
from securesystemslib.formats import encode_canonical as sslib_encode_canonical

from sealgate.errors import Reason, RegistryIntegrityError
from sealgate.registry._tufverify import canonical_signed_bytes, encode_canonical, parse_json

# Any text hypothesis can make, excluding lone surrogates (not encodable by either side).
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
# Text made mostly of the characters that need care: controls, quote, backslash, non-ASCII.
_tricky = st.text(st.sampled_from(['"', "\\", "\x00", "\x1f", "\n", "\t", "\x7f", "é", "\u2028", "💥", "a", "/"]))
_scalars = st.none() | st.booleans() | st.integers() | _text | _tricky
_json = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_text | _tricky, children, max_size=5),
    max_leaves=40,
)


def _sslib(value: Any) -> bytes:
    return sslib_encode_canonical(value).encode("utf-8")  # type: ignore[union-attr]


@given(_json)
@settings(max_examples=150, deadline=None)
def test_exact_encoder_matches_securesystemslib(value: Any) -> None:
    assert encode_canonical(value) == _sslib(value)


@given(st.dictionaries(_text | _tricky, _json, max_size=6))
@settings(max_examples=150, deadline=None)
def test_fast_path_matches_securesystemslib(value: dict[str, Any]) -> None:
    assert canonical_signed_bytes(value) == _sslib(value)


@given(st.dictionaries(_text | _tricky, _json, max_size=6))
@settings(max_examples=80, deadline=None)
def test_parsed_json_round_trip_encodes_identically(value: dict[str, Any]) -> None:
    # What the view does: parse the file's JSON, then canonicalise what it parsed.
    for raw in (json.dumps(value).encode(), json.dumps(value, ensure_ascii=False, indent=1).encode()):
        assert canonical_signed_bytes(parse_json(raw, "doc")) == _sslib(value)


def test_control_characters_written_raw_as_canonical_json_requires() -> None:
    value = {"a": "line\nbreak\x00", "b\\": 'quote"', "c": "\\n"}
    assert canonical_signed_bytes(value) == b'{"a":"line\nbreak\x00","b\\\\":"quote\\"","c":"\\\\n"}'
    assert canonical_signed_bytes(value) == _sslib(value)


def test_floats_cannot_be_canonical() -> None:
    with pytest.raises(TypeError):
        encode_canonical({"a": 1.5})
    with pytest.raises(FormatError):
        sslib_encode_canonical({"a": 1.5})


@pytest.mark.parametrize("document", [b'{"a": 1.0}', b'{"a": 1e3}', b'{"a": NaN}', b'{"a": -Infinity}'])
def test_metadata_with_float_or_nan_refused(document: bytes) -> None:
    with pytest.raises(RegistryIntegrityError) as info:
        parse_json(document, "metadata")
    assert info.value.reason is Reason.REGISTRY_TAMPERED


def test_lone_surrogate_refused_like_securesystemslib() -> None:
    value = parse_json(b'{"a": "\\ud800"}', "doc")
    with pytest.raises(ValueError):
        canonical_signed_bytes(value)
    with pytest.raises(UnicodeEncodeError):
        _sslib(value)


@pytest.mark.parametrize("document", [b"\xff{}", b"{", b'{"a": 1} x', b"\xef\xbb\xbf{}"])
def test_unparseable_metadata_is_tampered(document: bytes) -> None:
    with pytest.raises(RegistryIntegrityError) as info:
        parse_json(document, "metadata")
    assert info.value.reason is Reason.REGISTRY_TAMPERED


def test_raw_signed_bytes_path_and_canonical_fallback_agree() -> None:
    """Compact files verify over their raw signed bytes; pretty-printed ones through canonical JSON."""
    from sealgate.crypto.keys import generate_key
    from sealgate.registry import _tufverify as tv

    key = generate_key("ed25519")
    signed = {"_type": "targets", "a": "x\\u00e9", "n": [1, 2, {"k": "v"}]}
    payload = tv.canonical_signed_bytes(signed)
    sig = {"keyid": key.keyid, "sig": key.sign(payload).hex()}
    compact = json.dumps({"signatures": [sig], "signed": signed}, sort_keys=True, separators=(",", ":")).encode()
    pretty = json.dumps({"signatures": [sig], "signed": signed}, indent=2).encode()
    parsed_compact, sigs_c, raw_c = tv._envelope(compact, "t")
    parsed_pretty, sigs_p, raw_p = tv._envelope(pretty, "t")
    assert raw_c == payload and raw_p is None
    assert parsed_compact == parsed_pretty == signed and sigs_c == sigs_p
    # A structural "],"signed":{" inside a signature object is not the split point: falls back.
    odd = compact.replace(b'"sig":', b'"x":[1],"signed":{},"sig":', 1)
    _, _, raw_odd = tv._envelope(odd, "t")
    assert raw_odd is None
