"""DSSE: PAE and verification against the vectors published with the protocol."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import given
from hypothesis import strategies as st

from sealgate.crypto.dsse import Envelope, pae, sign_envelope
from sealgate.crypto.keys import PublicKey, generate_key
from sealgate.errors import MalformedInputError, VerificationError
from tests.conftest import LOCAL_VECTORS

VECTORS = json.loads((LOCAL_VECTORS / "dsse" / "vectors.json").read_text(encoding="utf-8"))


def _ed_key(seed_hex: str) -> PublicKey:
    return PublicKey.from_crypto(ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex)).public_key())


def test_pae_matches_protocol_example() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_protocol_example_signature_verifies() -> None:
    # protocol.md "Test Vectors": ECDSA P-256, signature as raw r||s (converted to DER here).
    x = 46950820868899156662930047687818585632848591499744589407958293238635476079160
    y = 5640078356564379163099075877009565129882514886557779369047442380624545832820
    public = PublicKey.from_crypto(ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key())
    raw = base64.b64decode("A3JqsQGtVsJ2O2xqrI5IcnXip5GToJ3F+FnZ+O88SjtR6rDAajabZKciJTfUiHqJPcIAriEGAHTVeCUjW2JIZA==")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    env = Envelope.from_dict(
        {
            "payload": "aGVsbG8gd29ybGQ=",
            "payloadType": "http://example.com/HelloWorld",
            "signatures": [{"sig": base64.b64encode(der).decode()}],
        }
    )
    verified = env.verify({public.keyid: public}, payload_type="http://example.com/HelloWorld")
    assert verified.payload == b"hello world"
    assert verified.keyids == {public.keyid}


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=[v["id"] for v in VECTORS["vectors"]])
def test_published_vectors(vector: dict) -> None:
    keys = {name: _ed_key(VECTORS["keys"][name]["seed"]) for name in vector["trustedKeys"]}
    trusted = {k.keyid: k for k in keys.values()}
    for name, k in keys.items():
        assert k.raw_ed25519.hex() == VECTORS["keys"][name]["public"]

    def run() -> None:
        env = Envelope.from_dict(vector["envelope"])
        if env.payload_type not in vector["supportedPayloadTypes"]:
            raise VerificationError("unsupported payload type")
        verified = env.verify(trusted, payload_type=env.payload_type)
        # Accepted means the signature covered exactly the published PAE bytes.
        assert pae(env.payload_type, env.payload).hex() == vector["pae"]
        if len(verified.keyids) < vector["threshold"]:
            raise VerificationError("threshold")

    if vector["expect"] == "accept":
        run()
    else:
        with pytest.raises((VerificationError, MalformedInputError)):
            run()


def test_payload_swap_in_signed_envelope_rejected() -> None:
    key = generate_key("ed25519")
    env = sign_envelope("application/vnd.in-toto+json", b'{"a":1}', key)
    forged = Envelope(env.payload_type, b'{"a":2}', env.signatures)
    with pytest.raises(VerificationError):
        forged.verify({key.keyid: key.public}, payload_type="application/vnd.in-toto+json")


@given(st.binary(max_size=256), st.integers(min_value=0, max_value=255))
def test_any_payload_byte_flip_rejected(payload: bytes, pos: int) -> None:
    key = _ed_key("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    priv = ed25519.Ed25519PrivateKey.from_private_bytes(
        bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    )
    sig = priv.sign(pae("t", payload))
    env = Envelope("t", payload, (("", sig),))
    assert env.verify({key.keyid: key}, payload_type="t").payload == payload
    if payload:
        i = pos % len(payload)
        flipped = payload[:i] + bytes([payload[i] ^ 0x01]) + payload[i + 1 :]
        with pytest.raises(VerificationError):
            Envelope("t", flipped, env.signatures).verify({key.keyid: key}, payload_type="t")


@pytest.mark.parametrize(
    "doc",
    [
        b"not json",
        b"[]",
        b'{"payloadType": "t", "payload": "!!", "signatures": [{"sig": "AA=="}]}',
        b'{"payloadType": "t", "payload": "", "signatures": []}',
        b'{"payloadType": "t", "payload": "", "signatures": [{"sig": 5}]}',
        b'{"payloadType": "t", "payloadType": "u", "payload": "", "signatures": [{"sig": "AA=="}]}',
    ],
)
def test_malformed_envelopes_give_clear_error(doc: bytes) -> None:
    with pytest.raises(MalformedInputError):
        Envelope.from_bytes(doc)
