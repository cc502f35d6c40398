"""Shared builders for the policy tests: real keys (generated once) and policy documents."""

from __future__ import annotations

import base64
import copy
from typing import Any

from cryptography.hazmat.primitives import serialization

from sealgate.canonical import canonical_bytes
from sealgate.crypto.keys import PrivateKey, generate_key
from sealgate.policy import LocalPolicy, TrustPolicy

# Key generation is cheap but not free; one pool serves every test and hypothesis example.
ED = [generate_key("ed25519") for _ in range(6)]
EC = [generate_key("ecdsa-p256") for _ in range(2)]
POOL: list[PrivateKey] = ED + EC


def pem(key: PrivateKey) -> str:
    return key.public.to_pem().decode("ascii")


def compressed_pem(key: PrivateKey) -> str:
    """The same P-256 public key as ``pem`` gives, with its point in compressed form.

    cryptography writes SPKI only with the uncompressed point, so the DER is built by hand:
    AlgorithmIdentifier (id-ecPublicKey, prime256v1) and a BIT STRING holding the 33-byte point.
    """
    point = key.public.key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    assert len(point) == 33
    algorithm = bytes.fromhex("301306072a8648ce3d020106082a8648ce3d030107")
    bit_string = b"\x03\x22\x00" + point
    der = b"\x30" + bytes([len(algorithm) + len(bit_string)]) + algorithm + bit_string
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


def policy_doc(**overrides: Any) -> dict[str, Any]:
    """A valid production policy document; keyword arguments replace top-level fields."""
    doc: dict[str, Any] = {
        "_type": "sealgate/trust-policy/v1",
        "environment": "production",
        "principals": {
            "alice": {"keys": [pem(ED[0])]},
            "bob": {"keys": [pem(ED[1])]},
            "carol": {"keys": [pem(ED[2])]},
            "dave": {"keys": [pem(EC[0])]},
        },
        "bindings": [
            {"principal": "alice", "roles": ["author"], "namespaces": ["tools/acme"]},
            {"principal": "bob", "roles": ["reviewer"], "namespaces": ["tools/*"]},
            {"principal": "carol", "roles": ["reviewer", "approver"], "namespaces": ["tools/*", "enclaves/*"]},
            {"principal": "dave", "roles": ["approver"], "namespaces": ["*/*"]},
        ],
        "levels": {
            "default": "standard",
            "rules": [
                {"kind": "enclave", "level": "strict"},
                {"namespace": "tools/acme", "stage": "PROD", "level": "strict"},
            ],
        },
        "requirements": {
            "standard": {"roles": {"author": 1, "reviewer": 1}},
            "strict": {"roles": {"author": 1, "reviewer": 1, "approver": 2}},
        },
        "max_staleness": 3600,
        "resources": {"wall_seconds": 20, "memory_mib": 256},
        "analysers": {"taint": "audit", "url": "audit"},
        "allow": {"hosts": ["a.example", "b.example"], "stages": ["STAGE", "PROD"]},
        "deny": {"commands": ["curl"]},
    }
    doc.update(copy.deepcopy(overrides))
    return doc


def dev_doc(**overrides: Any) -> dict[str, Any]:
    """A valid development policy with a permissive level."""
    base = policy_doc(environment="development")
    base["levels"]["rules"].append({"stage": "DEV", "level": "permissive"})
    base["requirements"]["permissive"] = {"roles": {"author": 1}}
    base.update(copy.deepcopy(overrides))
    return base


def policy(**overrides: Any) -> TrustPolicy:
    return TrustPolicy.from_json_bytes(canonical_bytes(policy_doc(**overrides)))


def local(**fields: Any) -> LocalPolicy:
    doc: dict[str, Any] = {"_type": "sealgate/local-policy/v1", **fields}
    return LocalPolicy.from_json_bytes(canonical_bytes(doc))


def encode(doc: dict[str, Any]) -> bytes:
    return canonical_bytes(doc)
