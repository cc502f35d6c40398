"""The legacy signed measurement registry: the shared vector, tampering, and export -> import round trips."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from sealgate.crypto.keys import generate_key, read_public_key_file
from sealgate.errors import MalformedInputError, UsageError, VerificationError
from sealgate.registry.client import refresh
from sealgate.registry.legacy import export_signal, import_signal, verify_signal

from .conftest import Keys, Registry, pinned_client

# Provenance: /work/shared/vectors/README.md, "signal-registry/" (cornellsh/signal-ai,
# measurement_registry.json at c6a27ef4, keys/registry.pub at 412e095a).


@pytest.fixture
def vector(shared_vectors: Path) -> tuple[bytes, Path]:
    directory = shared_vectors / "signal-registry"
    return (directory / "measurement_registry.json").read_bytes(), directory / "registry.pub"


def _with_namespace(writer: Registry, keys: Keys, name: str) -> None:
    writer.publish(writer.repo.propose_add_namespace(f"enclaves/{name}", [k.public for k in keys.acme], 2))


def test_shared_vector_verifies_with_its_key(vector: tuple[bytes, Path]) -> None:
    data, pub = vector
    measurements = verify_signal(data, read_public_key_file(pub))
    assert measurements[0]["mrenclave"] == "sha256:dummy_for_test"


def test_edited_measurement_fails_verification(vector: tuple[bytes, Path]) -> None:
    data, pub = vector
    doc = json.loads(data)
    doc["measurements"][0]["status"] = "revoked"
    with pytest.raises(VerificationError):
        verify_signal(json.dumps(doc).encode(), read_public_key_file(pub))
    doc = json.loads(data)
    doc["measurements"][0]["profile"] = "PROD"
    with pytest.raises(VerificationError):
        verify_signal(json.dumps(doc).encode(), read_public_key_file(pub))


def test_file_without_signatures_refused(vector: tuple[bytes, Path]) -> None:
    data, pub = vector
    for signatures in (
        [],
        None,
        [{"signature": "", "algorithm": "ed25519"}],
        [{"signature": json.loads(data)["signatures"][0]["signature"], "algorithm": "rsa"}],
    ):
        doc = json.loads(data)
        if signatures is None:
            del doc["signatures"]
        else:
            doc["signatures"] = signatures
        with pytest.raises(VerificationError):
            verify_signal(json.dumps(doc).encode(), read_public_key_file(pub))


def test_other_key_refused(vector: tuple[bytes, Path]) -> None:
    data, _ = vector
    with pytest.raises(VerificationError):
        verify_signal(data, generate_key("ed25519").public)
    with pytest.raises(UsageError):
        verify_signal(data, generate_key("ecdsa-p256").public)


def test_import_produces_a_normal_proposal_with_legacy_measurement(
    writer: Registry, writer_keys: Keys, vector: tuple[bytes, Path], tmp_path: Path
) -> None:
    data, pub = vector
    _with_namespace(writer, writer_keys, "signal")
    proposal = import_signal(writer.repo, data, read_public_key_file(pub), "signal")
    assert set(proposal.roles) == {"targets", next(n for n in proposal.roles if n.startswith("enclaves.signal-"))}
    assert set(proposal.roles["targets"].requirements[0].keys) == {k.keyid for k in writer_keys.targets}
    writer.publish(proposal)
    detail = writer.repo.show_entry("enclave", "signal", "1.0.0")
    assert detail.document is not None
    # "sha256:dummy_for_test" is not a 64-hex MRENCLAVE, so it can never match a quote.
    assert "mrenclave" not in detail.document
    assert detail.document["legacy_measurement"] == "sha256:dummy_for_test"
    assert detail.document["git_commit"] == "abc1234" and detail.document["stage"] == "DEV"
    assert detail.entry.git_commit is None and detail.entry.stage == "DEV" and detail.entry.status == "active"
    client = pinned_client(tmp_path, writer)
    refresh(client)
    stored = json.loads((client / "trust" / "targets" / "enclaves" / "signal" / "1.0.0").read_bytes())
    assert stored == detail.document


def test_export_then_import_round_trips(writer: Registry, writer_keys: Keys, vector: tuple[bytes, Path]) -> None:
    data, pub = vector
    _with_namespace(writer, writer_keys, "signal")
    writer.publish(import_signal(writer.repo, data, read_public_key_file(pub), "signal"))
    writer.publish(
        writer.repo.propose_add_enclave(
            name="signal",
            version="1.1.0",
            measurement="ab" * 32,
            stage="PROD",
            git_commit="d" * 40,
            build_timestamp="2026-01-01T00:00:00Z",
        )
    )
    writer.publish(writer.repo.propose_revoke("enclave", "signal", "1.1.0", "bad build"))
    export_key = generate_key("ed25519")
    exported = export_signal(writer.repo, export_key, name="signal")
    measurements = verify_signal(exported, export_key.public)
    assert measurements[0] == json.loads(data)["measurements"][0]
    assert measurements[1]["mrenclave"] == "ab" * 32 and measurements[1]["status"] == "revoked"
    assert measurements[1]["revocation_reason"] == "bad build" and measurements[1]["profile"] == "PROD"
    _with_namespace(writer, writer_keys, "copy")
    writer.publish(import_signal(writer.repo, exported, export_key.public, "copy"))

    def facts(name: str) -> list[tuple[object, ...]]:
        return [
            (e.version, e.status, e.stage, e.revocation_reason, d.measurement, d.git_commit, d.build_timestamp)
            for e, d in writer.repo.enclave_entries(name)
        ]

    # The authoritative status is the target's custom field; the entry document records the
    # status at registration, so documents of later-revoked entries differ, and that is fine.
    assert facts("copy") == facts("signal")
    assert export_signal(writer.repo, export_key, name="copy") == exported


def test_import_refuses_unknown_profile_and_fields(writer: Registry, writer_keys: Keys) -> None:
    _with_namespace(writer, writer_keys, "signal")
    key = generate_key("ed25519")
    for bad in ({"profile": "SIMULATION"}, {"extra": 1}, {"status": "maybe"}):
        measurement = {
            "mrenclave": "ab" * 32,
            "version": "1.0.0",
            "git_commit": None,
            "build_timestamp": None,
            "profile": "PROD",
            "status": "active",
            "revocation_reason": None,
            **bad,
        }
        measurements = [measurement]
        signature = key.sign(json.dumps(measurements, sort_keys=True).encode())
        doc = {
            "schema_version": "1.0",
            "measurements": measurements,
            "signatures": [{"signature": base64.b64encode(signature).decode(), "algorithm": "ed25519"}],
        }
        with pytest.raises(MalformedInputError):
            import_signal(writer.repo, json.dumps(doc).encode(), key.public, "signal")


def test_import_needs_the_namespace(writer: Registry, vector: tuple[bytes, Path]) -> None:
    data, pub = vector
    with pytest.raises(UsageError, match="does not exist"):
        import_signal(writer.repo, data, read_public_key_file(pub), "signal")


def test_export_needs_ed25519(writer: Registry) -> None:
    with pytest.raises(UsageError, match="Ed25519"):
        export_signal(writer.repo, generate_key("ecdsa-p256"), name="signal")
