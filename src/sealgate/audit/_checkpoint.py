"""Signed checkpoints: the C2SP tlog-checkpoint body inside a C2SP signed note (Ed25519).

A checkpoint commits to a log's tree head (c2sp.org/tlog-checkpoint)::

    <origin>\\n
    <tree size, decimal, no leading zeros>\\n
    <root hash, standard base64>\\n
    [<extension line>\\n ...]

A signed note (c2sp.org/signed-note) is that text, a blank line, then one line per
signature: ``— <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>``. The
signature is over the text, final newline included; the key id is
``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]``.

Verification needs a key the caller already trusts (:class:`NoteVerifier`): signatures from
unknown keys are ignored, a known key whose signature fails rejects the note, and a note
with no verified signature is rejected. Notes are bounded in size and signature count.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric import ed25519

from sealgate.crypto.keys import PrivateKey, PublicKey
from sealgate.errors import AuditIntegrityError, KeyError_, UsageError, VerificationError

from ._merkle import HASH_SIZE

__all__ = [
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "Checkpoint",
    "NoteVerifier",
    "sign_checkpoint",
    "verify_checkpoint",
]

MAX_NOTE_SIZE = 64 * 1024
# The spec asks verifiers to accept at least 16 signatures; Go's note package stops at 100.
MAX_SIGNATURES = 100
MAX_EXTENSION_LINES = 32
_ED25519_TYPE = b"\x01"
_SIG_PREFIX = "— "  # em dash U+2014, space
_DECIMAL = re.compile(r"^(0|[1-9][0-9]{0,18})$")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SPACE = re.compile(r"\s")


def _check_key_name(name: str) -> str:
    # signed-note: key names are non-empty, with no Unicode space and no plus sign.
    if not name or _SPACE.search(name) or "+" in name or _CONTROL.search(name) or "\n" in name:
        raise UsageError(f"key name {name!r} is not valid: it must be non-empty with no spaces or '+'")
    return name


def _key_id(name: str, raw_public: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + _ED25519_TYPE + raw_public).digest()[:4]


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise AuditIntegrityError(f"{what} is not valid base64") from exc


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's tree head as committed to by a checkpoint: origin, size, root, extension lines."""

    origin: str
    size: int
    root_hash: bytes = field(repr=False)
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or _CONTROL.search(self.origin):
            raise UsageError(f"checkpoint origin {self.origin!r} must be one non-empty line without control characters")
        if not 0 <= self.size < 2**63:
            raise UsageError(f"checkpoint tree size {self.size} is out of range")
        if len(self.root_hash) != HASH_SIZE:
            raise UsageError(f"checkpoint root hash must be {HASH_SIZE} bytes")
        if len(self.extensions) > MAX_EXTENSION_LINES:
            raise UsageError(f"a checkpoint may carry at most {MAX_EXTENSION_LINES} extension lines")
        for line in self.extensions:
            if not line or "\n" in line or _CONTROL.search(line):
                raise UsageError(f"checkpoint extension line {line!r} must be one non-empty line")

    @property
    def root_hex(self) -> str:
        return self.root_hash.hex()

    def to_text(self) -> bytes:
        """The checkpoint body: the exact bytes a note signature covers."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode("ascii"), *self.extensions]
        return ("\n".join(lines) + "\n").encode("utf-8")

    @classmethod
    def from_text(cls, text: bytes) -> Checkpoint:
        """Parse a checkpoint body; raise :class:`AuditIntegrityError` unless it is well formed."""
        if len(text) > MAX_NOTE_SIZE:
            raise AuditIntegrityError("checkpoint is larger than the size limit")
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AuditIntegrityError("checkpoint is not valid UTF-8") from exc
        if not decoded.endswith("\n"):
            raise AuditIntegrityError("checkpoint text must end with a newline")
        lines = decoded[:-1].split("\n")
        if len(lines) < 3 or any(not line for line in lines):
            raise AuditIntegrityError("checkpoint must have origin, size and root hash lines, none of them empty")
        origin, size_text, root_text, *extensions = lines
        if not _DECIMAL.match(size_text):
            raise AuditIntegrityError(f"checkpoint tree size {size_text[:30]!r} is not a decimal number")
        root = _b64decode(root_text, "checkpoint root hash")
        if len(root) != HASH_SIZE:
            raise AuditIntegrityError(f"checkpoint root hash is {len(root)} bytes, not {HASH_SIZE}")
        try:
            return cls(origin, int(size_text), root, tuple(extensions))
        except UsageError as exc:
            raise AuditIntegrityError(f"checkpoint is not valid: {exc.message}") from exc


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """A trusted note key: its name and Ed25519 public key (and the derived 4-byte key id)."""

    name: str
    public_key: PublicKey
    key_id: bytes = field(init=False)

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        raw = self.public_key.raw_ed25519  # raises KeyError_ for a key that is not Ed25519
        object.__setattr__(self, "key_id", _key_id(self.name, raw))

    @property
    def vkey(self) -> str:
        """The key in Go's ``note`` verifier-key format: ``<name>+<hex key id>+<base64(0x01 || key)>``."""
        encoded = base64.b64encode(_ED25519_TYPE + self.public_key.raw_ed25519).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse a verifier key string; the embedded key id must match the name and key."""
        name, sep1, rest = vkey.partition("+")
        key_id_hex, sep2, key_b64 = rest.partition("+")
        if not (sep1 and sep2) or not re.fullmatch(r"[0-9a-f]{8}", key_id_hex):
            raise KeyError_("verifier key must look like NAME+HEX8+BASE64")
        try:
            raw = base64.b64decode(key_b64.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
            raise KeyError_("verifier key is not valid base64") from exc
        if len(raw) != 33 or raw[:1] != _ED25519_TYPE:
            raise KeyError_("verifier key is not an Ed25519 (type 0x01) key")
        public = PublicKey.from_crypto(ed25519.Ed25519PublicKey.from_public_bytes(raw[1:]))
        verifier = cls(name, public)
        if verifier.key_id.hex() != key_id_hex:
            raise KeyError_(f"verifier key id {key_id_hex} does not match key name {name!r} and its public key")
        return verifier


def sign_checkpoint(checkpoint: Checkpoint, key: PrivateKey, *, key_name: str | None = None) -> bytes:
    """Sign ``checkpoint`` as a C2SP signed note with an Ed25519 ``key``.

    The key name defaults to the origin, as tlog-checkpoint recommends.
    """
    name = _check_key_name(checkpoint.origin if key_name is None else key_name)
    if key.public.keytype != "ed25519":
        raise KeyError_(f"checkpoints are signed with Ed25519 keys; key {key.keyid[:16]} is {key.public.keytype}")
    text = checkpoint.to_text()
    signature = key.sign(text)
    blob = base64.b64encode(_key_id(name, key.public.raw_ed25519) + signature).decode("ascii")
    return text + f"\n{_SIG_PREFIX}{name} {blob}\n".encode()


def _split_note(note: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Split a signed note into its text and ``(key name, decoded signature)`` pairs."""
    if len(note) > MAX_NOTE_SIZE:
        raise AuditIntegrityError(f"signed note is {len(note)} bytes, over the {MAX_NOTE_SIZE}-byte limit")
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AuditIntegrityError("signed note is not valid UTF-8") from exc
    if _CONTROL.search(decoded):
        raise AuditIntegrityError("signed note contains control characters")
    # The text ends at the last blank line; everything after it is signature lines.
    split = decoded.rfind("\n\n")
    if split < 0:
        raise AuditIntegrityError("signed note has no signature block (no blank line)")
    text, sig_block = decoded[: split + 1], decoded[split + 2 :]
    if not sig_block.endswith("\n"):
        raise AuditIntegrityError("signed note must end with a newline after its signatures")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise AuditIntegrityError(f"signed note has more than {MAX_SIGNATURES} signatures")
    signatures: list[tuple[str, bytes]] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise AuditIntegrityError("signed note has a line that is not a signature after the blank line")
        name, sep, blob = line[len(_SIG_PREFIX) :].partition(" ")
        if not sep or not name or _SPACE.search(name) or "+" in name or _SPACE.search(blob):
            raise AuditIntegrityError("signed note has a malformed signature line")
        raw = _b64decode(blob, f"signature by {name!r}")
        if len(raw) < 5:
            raise AuditIntegrityError(f"signature by {name!r} is too short")
        signatures.append((name, raw))
    return text.encode("utf-8"), signatures


def verify_checkpoint(note: bytes, *, origin: str, verifiers: Sequence[NoteVerifier]) -> Checkpoint:
    """Verify a signed checkpoint note against trusted keys; return the checkpoint it commits to.

    Raises :class:`AuditIntegrityError` when the note is malformed or too large, when a
    signature by a known key does not verify, when no known key signed it, or when its
    origin is not ``origin``. An empty ``verifiers`` list is a usage error, never a pass.
    """
    if not verifiers:
        raise UsageError("no checkpoint verification key is configured")
    known: dict[tuple[str, bytes], list[NoteVerifier]] = {}
    for verifier in verifiers:
        known.setdefault((verifier.name, verifier.key_id), []).append(verifier)
    text, signatures = _split_note(note)
    verified: set[tuple[str, bytes]] = set()
    for name, raw in signatures:
        candidates = known.get((name, raw[:4]))
        if not candidates:
            continue  # signed-note: signatures from unknown keys are ignored
        if len({c.public_key.keyid for c in candidates}) > 1:
            raise UsageError(f"two different checkpoint keys share the name {name!r} and key id {raw[:4].hex()}")
        if len(raw) != 4 + 64:
            raise AuditIntegrityError(f"signature by checkpoint key {name!r} has the wrong length")
        try:
            candidates[0].public_key.verify(raw[4:], text)
        except VerificationError as exc:
            raise AuditIntegrityError(
                f"checkpoint signature by key {name!r} does not verify: forged or altered"
            ) from exc
        verified.add((name, raw[:4]))
    if not verified:
        raise AuditIntegrityError("checkpoint is not signed by any trusted checkpoint key")
    checkpoint = Checkpoint.from_text(text)
    if checkpoint.origin != origin:
        raise AuditIntegrityError(f"checkpoint is for log {checkpoint.origin!r}, not {origin!r}")
    return checkpoint
