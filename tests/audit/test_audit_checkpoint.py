"""Signed checkpoints: Go's signed-note vectors, forged and unknown signatures, malformed notes, round trips."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from sealgate.audit import (
    MAX_NOTE_SIZE,
    AuditLog,
    Checkpoint,
    NoteVerifier,
    leaf_hash,
    sign_checkpoint,
    verify_checkpoint,
)
from sealgate.crypto.keys import PrivateKey, generate_key
from sealgate.errors import AuditIntegrityError, KeyError_, UsageError
from tests.audit.audit_support import ORIGIN

GO = json.loads((Path(__file__).parent / "vectors" / "go_signed_note.json").read_text())


def _go_private_key(skey: str) -> PrivateKey:
    raw = base64.b64decode(skey.split("+", 4)[4])  # PRIVATE+KEY+name+hash+base64 (base64 may hold "+")
    assert raw[0] == 1 and len(raw) == 33
    return PrivateKey.from_crypto(ed25519.Ed25519PrivateKey.from_private_bytes(raw[1:]))


def _go_note(*signature_lines: str) -> bytes:
    return (str(GO["text"]) + "\n" + "".join(signature_lines)).encode()


# --- external vectors -------------------------------------------------------------------


def test_go_vector_signature_reproduced_and_key_format_matches() -> None:
    key = _go_private_key(GO["peter"]["skey"])
    verifier = NoteVerifier(GO["peter"]["name"], key.public)
    assert verifier.vkey == GO["peter"]["vkey"]
    assert NoteVerifier.from_vkey(GO["peter"]["vkey"]) == verifier
    # Ed25519 is deterministic: our signature line is byte for byte Go's.
    signature = key.sign(GO["text"].encode())
    line = f"— {verifier.name} {base64.b64encode(verifier.key_id + signature).decode()}\n"
    assert line == GO["peter"]["signature_line"]


def test_go_vector_note_with_two_signatures_verifies_with_either_key() -> None:
    note = _go_note(GO["peter"]["signature_line"], GO["enoch"]["signature_line"])
    peter = NoteVerifier.from_vkey(GO["peter"]["vkey"])
    enoch = NoteVerifier.from_vkey(GO["enoch"]["vkey"])
    # The Go text is not a checkpoint, so verification fails only after the signatures pass.
    for verifiers in ([peter], [enoch], [peter, enoch]):
        with pytest.raises(AuditIntegrityError, match="checkpoint must have origin, size and root hash lines"):
            verify_checkpoint(note, origin="x", verifiers=verifiers)


def test_go_vector_tree_note_parses_and_formats_back() -> None:
    checkpoint = Checkpoint.from_text(GO["tree"]["text"].encode())
    assert checkpoint.origin == GO["tree"]["origin"]
    assert checkpoint.size == GO["tree"]["size"]
    assert checkpoint.root_hash == leaf_hash(GO["tree"]["root_is_leaf_hash_of"].encode())
    assert checkpoint.to_text() == GO["tree"]["text"].encode()


def test_go_vector_mangled_verifier_keys_refused() -> None:
    vkey = GO["peter"]["vkey"]
    for bad in (vkey[:-1], vkey[1:], vkey.replace("c74f20a3", "c74f20a4"), vkey + "A", "PeterNeumann+c74f20a3"):
        with pytest.raises(KeyError_):
            NoteVerifier.from_vkey(bad)


# --- our checkpoints ----------------------------------------------------------------------


def test_checkpoint_of_log_verifies_and_matches_tree_head(
    log: AuditLog, log_key: PrivateKey, log_verifier: NoteVerifier
) -> None:
    for i in range(5):
        log.append({"_type": "test/v1", "i": i})
    note = log.checkpoint(ORIGIN, log_key)
    checkpoint = verify_checkpoint(note, origin=ORIGIN, verifiers=[log_verifier])
    assert (checkpoint.size, checkpoint.root_hash) == (5, log.root_hash())
    text, _, signature = note.decode().rpartition("\n\n")
    assert text.split("\n") == [ORIGIN, "5", base64.b64encode(log.root_hash()).decode()]
    assert signature.startswith(f"— {ORIGIN} ")


def test_checkpoint_forged_signature_rejected(log_key: PrivateKey, log_verifier: NoteVerifier) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, leaf_hash(b"a")), log_key)
    text, _, line = note.decode().rpartition("\n\n")
    name, blob = line.removeprefix("— ").rstrip("\n").split(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[10] ^= 1
    forged = f"{text}\n\n— {name} {base64.b64encode(bytes(raw)).decode()}\n".encode()
    with pytest.raises(AuditIntegrityError, match="does not verify"):
        verify_checkpoint(forged, origin=ORIGIN, verifiers=[log_verifier])


def test_checkpoint_altered_size_or_root_rejected(log_key: PrivateKey, log_verifier: NoteVerifier) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, leaf_hash(b"a")), log_key)
    bigger = note.replace(b"\n3\n", b"\n4\n", 1)
    other_root = note.replace(base64.b64encode(leaf_hash(b"a")), base64.b64encode(leaf_hash(b"b")), 1)
    for altered in (bigger, other_root):
        assert altered != note
        with pytest.raises(AuditIntegrityError, match="does not verify"):
            verify_checkpoint(altered, origin=ORIGIN, verifiers=[log_verifier])


def test_checkpoint_signed_by_unknown_key_rejected(log_verifier: NoteVerifier) -> None:
    # Same key name, another key: the key id differs, so it is an unknown key and ignored,
    # and with no known signature left the note is refused.
    impostor = generate_key("ed25519")
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, leaf_hash(b"a")), impostor)
    with pytest.raises(AuditIntegrityError, match="not signed by any trusted"):
        verify_checkpoint(note, origin=ORIGIN, verifiers=[log_verifier])


def test_checkpoint_with_unknown_cosignature_still_verifies(log_key: PrivateKey, log_verifier: NoteVerifier) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, leaf_hash(b"a")), log_key)
    witness = sign_checkpoint(
        Checkpoint(ORIGIN, 3, leaf_hash(b"a")), generate_key("ed25519"), key_name="witness.example"
    )
    cosigned = note + witness.rpartition(b"\n\n")[2]
    assert verify_checkpoint(cosigned, origin=ORIGIN, verifiers=[log_verifier]).size == 3


def test_checkpoint_for_another_origin_rejected(log_key: PrivateKey) -> None:
    note = sign_checkpoint(Checkpoint("other.example/log", 3, leaf_hash(b"a")), log_key, key_name=ORIGIN)
    with pytest.raises(AuditIntegrityError, match=re.escape(f"not {ORIGIN!r}")):
        verify_checkpoint(note, origin=ORIGIN, verifiers=[NoteVerifier(ORIGIN, log_key.public)])


def test_checkpoint_with_no_trusted_keys_configured_is_a_usage_error(log_key: PrivateKey) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, leaf_hash(b"a")), log_key)
    with pytest.raises(UsageError):
        verify_checkpoint(note, origin=ORIGIN, verifiers=[])


@pytest.mark.parametrize(
    "mangle",
    [
        lambda n: n.replace(b"\n\n", b"\n"),  # no blank line: no signature block
        lambda n: n[:-1],  # no final newline
        lambda n: n + b"not a signature\n",
        lambda n: b"\x01" + n,  # control character
        lambda n: b"\xff" + n,  # not UTF-8
        lambda n: n.replace("— ".encode(), b"- "),  # hyphen instead of em dash
        lambda n: n.replace(b"\n3\n", b"\n03\n"),  # leading zero in the size
        lambda n: n + n.rpartition(b"\n\n")[2] * 101,  # too many signatures
        lambda n: n + b"x" * MAX_NOTE_SIZE,  # too large
    ],
)
def test_checkpoint_malformed_note_rejected(log_key: PrivateKey, log_verifier: NoteVerifier, mangle: object) -> None:
    note = sign_checkpoint(Checkpoint(ORIGIN, 3, leaf_hash(b"a")), log_key)
    assert callable(mangle)
    with pytest.raises(AuditIntegrityError):
        verify_checkpoint(mangle(note), origin=ORIGIN, verifiers=[log_verifier])


def test_checkpoint_signing_refuses_non_ed25519_keys_and_bad_names() -> None:
    with pytest.raises(KeyError_):
        sign_checkpoint(Checkpoint(ORIGIN, 0, leaf_hash(b"")), generate_key("ecdsa-p256"))
    with pytest.raises(UsageError):
        sign_checkpoint(Checkpoint(ORIGIN, 0, leaf_hash(b"")), generate_key("ed25519"), key_name="has space")
    with pytest.raises(UsageError):
        sign_checkpoint(Checkpoint(ORIGIN, 0, leaf_hash(b"")), generate_key("ed25519"), key_name="a+b")
    with pytest.raises(KeyError_):
        NoteVerifier(ORIGIN, generate_key("ecdsa-p256").public)


_line = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    origin=_line,
    size=st.integers(0, 2**63 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(_line, max_size=3),
)
def test_checkpoint_round_trip_is_exact(
    log_key: PrivateKey, origin: str, size: int, root: bytes, extensions: list[str]
) -> None:
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    assert Checkpoint.from_text(checkpoint.to_text()) == checkpoint
    note = sign_checkpoint(checkpoint, log_key, key_name="log.example")
    verifier = NoteVerifier("log.example", log_key.public)
    assert verify_checkpoint(note, origin=origin, verifiers=[verifier]) == checkpoint
    # Any single changed byte of the signed text breaks the note.
    text_length = len(checkpoint.to_text())
    position = size % text_length
    tampered = bytearray(note)
    tampered[position] ^= 0x01
    with pytest.raises(AuditIntegrityError):
        verify_checkpoint(bytes(tampered), origin=origin, verifiers=[verifier])
