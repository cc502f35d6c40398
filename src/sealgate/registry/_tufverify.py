"""Offline TUF metadata verification without python-tuf: the trust core of the registry view.

Bytes go in, verified read-only objects come out; there is no IO here (the orchestrator is
``sealgate.registry.view``). The checks are those of the TUF specification 1.0.x, section 5
("Detailed client workflow"), made in the order python-tuf's
``ngclient/_internal/trusted_metadata_set.py`` makes them:

* a root is accepted only when a threshold of the *previous* root's root keys and a
  threshold of its *own* root keys signed it, and its version is exactly one more (§5.3.4,
  §5.3.5); only the final root's expiry matters (§5.3.10);
* timestamp, snapshot and targets are signed by a threshold of the keys the root lists for
  them (§5.4.2, §5.5.3, §5.6.3), snapshot and targets match the length, hashes and version
  their parent lists (§5.5.2, §5.5.4, §5.6.2, §5.6.4), and none is expired (§5.4.4, §5.5.6,
  §5.6.5);
* a delegated targets role is signed by a threshold of the keys its delegator lists for
  it, and matches the version (and hashes) in the snapshot.

Signatures cover the OLPC canonical JSON of the ``signed`` object, as securesystemslib's
``encode_canonical`` writes it. python-tuf signs a *re-serialisation* of the parsed object;
the parsers below refuse every input on which that re-serialisation would differ from the
canonical encoding of the document as read (``null`` for optional fields, extra timestamp
meta entries, loosely formatted expiry dates), so "canonical JSON of what we parsed" is
exactly python-tuf's signed payload.

sealgate passes explicit key ids (hex SHA-256 of the DER SubjectPublicKeyInfo, see
``sealgate.crypto.keys``): every key is re-derived from its material and a key whose id
does not match is refused, so one key can never count twice under two ids. Unknown key types
or schemes, and unreadable key material, make that key unable to verify anything (fail closed).

Where python-tuf is laxer we are stricter: booleans are not accepted as integers, a
``null`` optional field is refused, key ids, signatures and role names must be unique
(python-tuf refuses these too), hash algorithms outside a strong allow-list never match, a
target's ``custom`` must be an object, and floating-point numbers anywhere in a metadata file
are refused (canonical JSON cannot encode them, so python-tuf could never verify such a file
either). One deliberate difference goes the other way: python-tuf refuses a whole file that
lists a key of a type it does not know, while here such a key only counts for nothing, so
the file still needs a threshold of signatures by keys we can verify.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any, Final, NoReturn

from cryptography.hazmat.primitives.asymmetric import ed25519

from sealgate.crypto.keys import PublicKey, load_public_key
from sealgate.errors import Reason, RegistryIntegrityError, SealgateError

__all__ = [
    "MAX_DELEGATIONS",
    "TOP_LEVEL_ROLES",
    "DelegatedRole",
    "Delegations",
    "KeyRing",
    "MetaFile",
    "RoleKeys",
    "RootMetadata",
    "SnapshotMetadata",
    "SuccinctRoles",
    "TargetsMetadata",
    "TimestampMetadata",
    "canonical_signed_bytes",
    "check_final_root",
    "encode_canonical",
    "format_time",
    "load_trusted_root",
    "parse_json",
    "verify_delegated_targets",
    "verify_hashes",
    "verify_length_and_hashes",
    "verify_next_root",
    "verify_snapshot",
    "verify_timestamp",
]

TOP_LEVEL_ROLES: Final = frozenset({"root", "timestamp", "snapshot", "targets"})
# ngclient's UpdaterConfig.max_delegations: at most this many roles are visited per lookup.
MAX_DELEGATIONS: Final = 32

# Hash algorithms a MetaFile or target may name. Anything else (md5, sha1, typos) never
# matches, so metadata naming it fails closed.
_HASHES: Final[Mapping[str, Callable[[bytes], Any]]] = {
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
    "sha3_256": hashlib.sha3_256,
    "sha3_384": hashlib.sha3_384,
    "sha3_512": hashlib.sha3_512,
    "blake2b": hashlib.blake2b,
    "blake2b-256": lambda data: hashlib.blake2b(data, digest_size=32),
}

_DIGITS: Final = frozenset("0123456789")
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
# A backslash that does not start an escaped quote or backslash: json.dumps escaped a control
# character there, which canonical JSON would have written raw. Compiled on first use (re
# caches it): module-level work is paid by every gate process.
_NON_CANONICAL_ESCAPE: Final = r'\\[^"\\]'


def _tampered(message: str) -> NoReturn:
    raise RegistryIntegrityError(message, reason=Reason.REGISTRY_TAMPERED)


def format_time(seconds: float) -> str:
    """RFC 3339 UTC rendering of a unix time, for error messages."""
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"unix time {seconds}"


def _expired(role: str, expires: str, now: float) -> RegistryIntegrityError:
    return RegistryIntegrityError(
        f"{role} metadata expired at {expires} (reference time {format_time(now)}); "
        "refresh the registry (`sealgate registry refresh`), or re-sign it if you publish it",
        reason=Reason.METADATA_EXPIRED,
    )


# ---------------------------------------------------------------------------------------------
# Canonical JSON (OLPC / securesystemslib encode_canonical)


def encode_canonical(value: object) -> bytes:
    """The exact canonical JSON of ``value``, byte for byte what securesystemslib writes.

    Sorted keys, no whitespace, integers only, and in strings only ``"`` and ``\\`` are
    escaped (everything else, control characters included, is written raw), UTF-8 encoded.
    Raises ``TypeError`` for floats and other unencodable values, ``ValueError`` for strings
    that are not valid Unicode (lone surrogates).
    """
    parts: list[str] = []
    _encode(value, parts.append)
    try:
        return "".join(parts).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"string cannot be encoded as UTF-8: {exc.reason}") from exc


def _encode_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _encode(value: object, out: Callable[[str], object]) -> None:
    if isinstance(value, str):
        out(_encode_string(value))
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif value is None:
        out("null")
    elif isinstance(value, int):
        out(str(value))
    elif isinstance(value, (list, tuple)):
        out("[")
        for index, item in enumerate(value):
            if index:
                out(",")
            _encode(item, out)
        out("]")
    elif isinstance(value, dict):
        out("{")
        keys = list(value)
        if not all(isinstance(key, str) for key in keys):
            raise TypeError("canonical JSON object keys must be strings")
        for index, key in enumerate(sorted(keys)):
            if index:
                out(",")
            out(_encode_string(key))
            out(":")
            _encode(value[key], out)
        out("}")
    else:
        raise TypeError(f"canonical JSON cannot encode {type(value).__name__} values")


def canonical_signed_bytes(value: dict[str, Any]) -> bytes:
    """Canonical JSON of a ``signed`` object that :func:`parse_json` produced.

    Fast path: ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.
    For float-free input (``parse_json`` refuses floats) it differs from canonical JSON only
    in how strings holding control characters are written (it escapes them as ``\\n`` or
    ``\\u00XX``; canonical JSON writes them raw). Every such escape starts with a backslash
    that is not followed by ``"`` or ``\\``, so when the output has no such backslash the two
    encodings are identical; otherwise the exact encoder is used. Both sort keys by code
    point and write ``"`` and ``\\`` as ``\\"`` and ``\\\\``.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if "\\" in text and re.search(_NON_CANONICAL_ESCAPE, text) is not None:
        return encode_canonical(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"string cannot be encoded as UTF-8: {exc.reason}") from exc


# ---------------------------------------------------------------------------------------------
# Parsing helpers


def _refuse_float(text: str) -> NoReturn:
    raise ValueError(f"floating-point number {text[:32]} (canonical JSON allows integers only)")


def _refuse_constant(text: str) -> NoReturn:
    raise ValueError(f"JSON constant {text} is not allowed")


def parse_json(data: bytes, what: str) -> Any:
    """Parse UTF-8 JSON, refusing floats, NaN and Infinity (they cannot be canonical)."""
    try:
        return json.loads(data.decode("utf-8"), parse_float=_refuse_float, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        _tampered(f"{what} is not valid JSON metadata: {exc}")


def _dict(value: object, what: str) -> dict[str, Any]:
    if type(value) is not dict:
        _tampered(f"{what} must be a JSON object")
    return value


def _str(value: object, what: str) -> str:
    if type(value) is not str:
        _tampered(f"{what} must be a string")
    return value


def _int(value: object, what: str, *, minimum: int) -> int:
    # type() rather than isinstance(): a JSON true is a bool, and bools are not integers here.
    if type(value) is not int or value < minimum:
        _tampered(f"{what} must be an integer >= {minimum}")
    return value


def _bool(value: object, what: str) -> bool:
    if type(value) is not bool:
        _tampered(f"{what} must be true or false")
    return value


def _str_list(value: object, what: str, *, unique: bool) -> tuple[str, ...]:
    if type(value) is not list or any(type(item) is not str for item in value):
        _tampered(f"{what} must be a list of strings")
    if unique and len(set(value)) != len(value):
        _tampered(f"{what} lists the same key id more than once")
    return tuple(value)


def _hashes(value: object, what: str) -> dict[str, str]:
    hashes = _dict(value, what)
    if not hashes or any(type(digest) is not str for digest in hashes.values()):
        _tampered(f"{what} must be a non-empty object of hex digests")
    return hashes


def _is_spec_version(value: object) -> bool:
    """TUF 1.x, as ``1.N`` or ``1.N.M`` with ASCII digits (python-tuf accepts the same forms)."""
    if type(value) is not str:
        return False
    parts = value.split(".")
    return len(parts) in (2, 3) and parts[0] == "1" and all(part and set(part) <= _DIGITS for part in parts)


def _parse_expires(value: object, what: str) -> tuple[float, str]:
    """``YYYY-MM-DDTHH:MM:SSZ`` exactly (python-tuf re-serialises to this form before verifying)."""
    if (
        type(value) is not str
        or len(value) != 20
        or value[4] != "-"
        or value[7] != "-"
        or value[10] != "T"
        or value[13] != ":"
        or value[16] != ":"
        or value[19] != "Z"
        or not set(value[0:4] + value[5:7] + value[8:10] + value[11:13] + value[14:16] + value[17:19]) <= _DIGITS
    ):
        _tampered(f"{what} expires {value!r} is not of the form YYYY-MM-DDTHH:MM:SSZ")
    try:
        moment = datetime(
            int(value[0:4]),
            int(value[5:7]),
            int(value[8:10]),
            int(value[11:13]),
            int(value[14:16]),
            int(value[17:19]),
            tzinfo=UTC,
        )
        return moment.timestamp(), value
    except (ValueError, OverflowError):
        _tampered(f"{what} expires {value!r} is not a valid date")


def _common(signed: dict[str, Any], role_type: str, what: str) -> tuple[int, float, str]:
    """(version, expires as unix time, expires as written) after checking _type and spec_version."""
    if signed.get("_type") != role_type:
        _tampered(f"{what} has _type {signed.get('_type')!r}, expected {role_type!r}")
    version = _int(signed.get("version"), f"{what} version", minimum=1)
    spec = signed.get("spec_version")
    if not _is_spec_version(spec):
        _tampered(f"{what} has spec_version {spec!r}; only TUF specification 1.x is supported")
    expires, expires_text = _parse_expires(signed.get("expires"), what)
    return version, expires, expires_text


class _Payload:
    """What the signatures of one metadata file may cover, in the order to try.

    python-tuf writes metadata compactly as ``{"signatures":[...],"signed":{...}}`` with the
    ``signed`` value in canonical form, so those exact bytes of the file are the signed
    payload: verifying over them and parsing only them skips re-encoding a bin of hundreds
    of kilobytes. Any other layout, or signatures that do not verify over the raw bytes, fall
    back to the canonical encoding of the parsed object, as the TUF specification states it.
    """

    __slots__ = ("_canonical", "raw", "signed", "what")

    def __init__(self, signed: dict[str, Any], raw: bytes | None, what: str) -> None:
        self.signed = signed
        self.raw = raw
        self.what = what
        self._canonical: bytes | None = None

    def candidates(self) -> Iterator[bytes]:
        if self.raw is not None:
            yield self.raw
        canonical = self.canonical  # computed only when the raw bytes did not verify
        if canonical != self.raw:
            yield canonical

    @property
    def canonical(self) -> bytes:
        if self._canonical is None:
            try:
                self._canonical = canonical_signed_bytes(self.signed)
            except (TypeError, ValueError, RecursionError) as exc:
                _tampered(f"{self.what} cannot be encoded as canonical JSON: {exc}")
        return self._canonical


def _payload(signed: dict[str, Any], what: str, raw: bytes | None = None) -> _Payload:
    """The payloads the signatures may cover: the raw signed bytes, then canonical JSON."""
    return _Payload(signed, raw, what)


_COMPACT_HEAD = b'{"signatures":['
_COMPACT_SPLIT = b'],"signed":{'


def _split_compact(data: bytes, what: str) -> tuple[dict[str, Any], bytes, list[Any]] | None:
    """(signed, its exact bytes, raw signatures) when ``data`` is python-tuf's compact layout.

    ``data[:i+1] + "}"`` parsing as an object whose only key is ``signatures``, and the rest
    (without the final ``}``) parsing as an object, make ``data`` exactly the document
    ``{"signatures": ..., "signed": ...}`` by the JSON grammar, so the second part is the
    ``signed`` value's own bytes. Anything else returns None and is parsed as a whole.
    """
    if not (data.startswith(_COMPACT_HEAD) and data.endswith(b"}")):
        return None
    i = data.find(_COMPACT_SPLIT)
    if i < 0:
        return None
    body = data[i + len(_COMPACT_SPLIT) - 1 : -1]
    try:
        head = parse_json(data[: i + 1] + b"}", what)
        signed = parse_json(body, what)
    except RegistryIntegrityError:
        return None  # not this layout after all: the whole document is parsed, and judged, below
    if type(head) is not dict or set(head) != {"signatures"} or type(head["signatures"]) is not list:
        return None
    if type(signed) is not dict:
        return None
    return signed, body, head["signatures"]


def _envelope(data: bytes, what: str) -> tuple[dict[str, Any], dict[str, str], bytes | None]:
    """(signed, {key id: hex signature}, raw signed bytes or None); signatures are not checked here."""
    split = _split_compact(data, what)
    raw_body: bytes | None
    if split is not None:
        signed, raw_body, raw_signatures_list = split
        raw_signatures: object = raw_signatures_list
    else:
        document = _dict(parse_json(data, what), what)
        signed = _dict(document.get("signed"), f"{what} signed")
        raw_signatures = document.get("signatures")
        raw_body = None
    if type(raw_signatures) is not list:
        _tampered(f"{what} signatures must be a list")
    signatures: dict[str, str] = {}
    for raw in raw_signatures:
        sig = _dict(raw, f"{what} signature")
        keyid = _str(sig.get("keyid"), f"{what} signature keyid")
        value = _str(sig.get("sig"), f"{what} signature sig")
        # python-tuf refuses the whole file too ("Multiple signatures found for keyid").
        if keyid in signatures:
            _tampered(f"{what} carries more than one signature by key {keyid[:16]}")
        signatures[keyid] = value
    return signed, signatures, raw_body


# ---------------------------------------------------------------------------------------------
# Keys and thresholds


class KeyRing:
    """The keys a delegator (root or a targets role) lists, parsed and id-checked on first use."""

    __slots__ = ("_keys", "_loaded", "_owner")

    def __init__(self, keys: dict[str, Any], owner: str) -> None:
        for keyid, key in keys.items():
            key = _dict(key, f"{owner} key {keyid[:16]}")
            _str(key.get("keytype"), f"{owner} key {keyid[:16]} keytype")
            _str(key.get("scheme"), f"{owner} key {keyid[:16]} scheme")
            keyval = _dict(key.get("keyval"), f"{owner} key {keyid[:16]} keyval")
            _str(keyval.get("public"), f"{owner} key {keyid[:16]} keyval.public")
        self._keys = keys
        self._owner = owner
        self._loaded: dict[str, PublicKey | None] = {}

    def __contains__(self, keyid: object) -> bool:
        return keyid in self._keys

    def get(self, keyid: str) -> PublicKey | None:
        """The verifying key for ``keyid``; ``None`` when unknown or unusable (fail closed).

        Raises :class:`RegistryIntegrityError` when the key material's own key id (SHA-256
        of its DER SPKI) is not ``keyid``.
        """
        try:
            return self._loaded[keyid]
        except KeyError:
            pass
        raw = self._keys.get(keyid)
        key = None if raw is None else _load_key(keyid, raw, self._owner)
        self._loaded[keyid] = key
        return key

    def check_all(self) -> None:
        """Load every key now, so that any key id mismatch is refused up front."""
        for keyid in self._keys:
            self.get(keyid)


def _load_key(keyid: str, raw: dict[str, Any], owner: str) -> PublicKey | None:
    keytype, scheme, material = raw["keytype"], raw["scheme"], raw["keyval"]["public"]
    public: PublicKey
    try:
        if keytype == "ed25519" and scheme == "ed25519":
            if len(material) != 64 or not set(material) <= _HEX_DIGITS:
                return None
            public = PublicKey.from_crypto(ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(material)))
        elif keytype in ("ecdsa", "ecdsa-sha2-nistp256") and scheme == "ecdsa-sha2-nistp256":
            public = load_public_key(material.encode("utf-8"), what=f"{owner} key {keyid[:16]}")
            if public.keytype != "ecdsa-p256":
                return None
        else:
            return None  # unknown key type or scheme: this key verifies nothing
    except (SealgateError, ValueError, UnicodeEncodeError):
        return None  # unreadable material: this key verifies nothing
    if public.keyid != keyid:
        _tampered(
            f"{owner} lists key id {keyid[:16]}… for a key whose id is {public.keyid[:16]}…; sealgate key ids "
            "are the SHA-256 of the key's DER SubjectPublicKeyInfo and a mismatch is refused"
        )
    return public


class RoleKeys:
    """Which key ids may sign a role and how many distinct ones must."""

    __slots__ = ("keyids", "threshold")

    def __init__(self, keyids: tuple[str, ...], threshold: int) -> None:
        self.keyids = keyids
        self.threshold = threshold


def _role_keys(raw: object, what: str) -> RoleKeys:
    role = _dict(raw, what)
    keyids = _str_list(role.get("keyids"), f"{what} keyids", unique=True)
    threshold = _int(role.get("threshold"), f"{what} threshold", minimum=1)
    return RoleKeys(keyids, threshold)


def _verify_threshold(
    role: str, keys: RoleKeys, keyring: KeyRing, payload: _Payload, signatures: Mapping[str, str], signer_of: str
) -> None:
    """§5.x "threshold of signatures": count distinct listed key ids with a valid signature."""
    signed: set[str] = set()
    for candidate in payload.candidates():
        signed = set()
        for keyid in keys.keyids:
            key = keyring.get(keyid)
            if key is None:
                continue
            sig_hex = signatures.get(keyid)
            if sig_hex is None:
                continue
            try:
                key.verify(bytes.fromhex(sig_hex), candidate)
            except (SealgateError, ValueError):
                continue
            signed.add(keyid)
        if len(signed) >= keys.threshold:
            return
    if len(signed) < keys.threshold:
        _tampered(
            f"{role} metadata was signed by {len(signed)}/{keys.threshold} of the keys {signer_of} "
            "lists for it: bad or missing signatures"
        )


# ---------------------------------------------------------------------------------------------
# Verified metadata. Plain slotted classes, read-only by convention, rather than dataclasses:
# each dataclass costs about a millisecond to create at import, on every gate start-up.


class RootMetadata:
    """A verified root: the keys and thresholds of the four top-level roles, and its exact bytes."""

    __slots__ = ("consistent_snapshot", "expires", "expires_text", "keyring", "raw", "roles", "version")

    def __init__(
        self,
        version: int,
        expires: float,
        expires_text: str,
        keyring: KeyRing,
        roles: Mapping[str, RoleKeys],
        consistent_snapshot: bool | None,
        raw: bytes,
    ) -> None:
        self.version = version
        self.expires = expires
        self.expires_text = expires_text
        self.keyring = keyring
        self.roles = roles
        self.consistent_snapshot = consistent_snapshot
        self.raw = raw


class MetaFile:
    """Version, and optionally length and hashes, of a metadata file (snapshot/timestamp meta)."""

    __slots__ = ("hashes", "length", "version")

    def __init__(self, version: int, length: int | None, hashes: Mapping[str, str] | None) -> None:
        self.version = version
        self.length = length
        self.hashes = hashes


class TimestampMetadata:
    __slots__ = ("expires", "expires_text", "snapshot_meta", "version")

    def __init__(self, version: int, expires: float, expires_text: str, snapshot_meta: MetaFile) -> None:
        self.version = version
        self.expires = expires
        self.expires_text = expires_text
        self.snapshot_meta = snapshot_meta


class SnapshotMetadata:
    __slots__ = ("expires", "expires_text", "meta", "version")

    def __init__(self, version: int, expires: float, expires_text: str, meta: Mapping[str, MetaFile]) -> None:
        self.version = version
        self.expires = expires
        self.expires_text = expires_text
        self.meta = meta


class DelegatedRole:
    """One entry of ``delegations.roles``: a named role, its keys and the paths it may sign."""

    __slots__ = ("keys", "name", "path_hash_prefixes", "paths", "terminating")

    def __init__(
        self,
        name: str,
        keys: RoleKeys,
        terminating: bool,
        paths: tuple[str, ...] | None,
        path_hash_prefixes: tuple[str, ...] | None,
    ) -> None:
        self.name = name
        self.keys = keys
        self.terminating = terminating
        self.paths = paths
        self.path_hash_prefixes = path_hash_prefixes

    def is_delegated_path(self, path: str) -> bool:
        """python-tuf's ``DelegatedRole.is_delegated_path``."""
        if self.path_hash_prefixes is not None:
            digest = hashlib.sha256(path.encode("utf-8")).hexdigest()
            return any(digest.startswith(prefix) for prefix in self.path_hash_prefixes)
        assert self.paths is not None
        return any(_is_target_in_pathpattern(path, pattern) for pattern in self.paths)


class SuccinctRoles:
    """TAP 15 hash bins: ``2**bit_length`` terminating roles ``<prefix>-<hex>`` sharing one key set."""

    __slots__ = ("bit_length", "keys", "name_prefix", "suffix_len")

    def __init__(self, keys: RoleKeys, bit_length: int, name_prefix: str) -> None:
        self.keys = keys
        self.bit_length = bit_length
        self.name_prefix = name_prefix
        self.suffix_len = len(f"{(1 << bit_length) - 1:x}")

    def role_for_target(self, path: str) -> str:
        """The bin for ``path``: the leftmost ``bit_length`` bits of SHA-256(path), zero-padded hex."""
        prefix = int.from_bytes(hashlib.sha256(path.encode("utf-8")).digest()[:4], "big")
        return f"{self.name_prefix}-{prefix >> (32 - self.bit_length):0{self.suffix_len}x}"

    def is_delegated_role(self, name: str) -> bool:
        head = self.name_prefix + "-"
        if not name.startswith(head):
            return False
        suffix = name[len(head) :]
        if len(suffix) != self.suffix_len or not set(suffix) <= _HEX_DIGITS:
            return False
        return int(suffix, 16) < (1 << self.bit_length)


class Delegations:
    """The delegations of a targets role: either named roles (in order) or succinct bins."""

    __slots__ = ("keyring", "roles", "succinct")

    def __init__(
        self, keyring: KeyRing, roles: tuple[DelegatedRole, ...] | None, succinct: SuccinctRoles | None
    ) -> None:
        self.keyring = keyring
        self.roles = roles
        self.succinct = succinct

    def roles_for_target(self, path: str) -> Iterator[tuple[str, bool]]:
        """(role name, terminating) of every role responsible for ``path``, in order."""
        if self.roles is not None:
            for role in self.roles:
                if role.is_delegated_path(path):
                    yield role.name, role.terminating
        elif self.succinct is not None:
            yield self.succinct.role_for_target(path), True

    def role_keys(self, name: str) -> RoleKeys | None:
        """The keys and threshold for delegated role ``name``; ``None`` if not delegated here."""
        if self.roles is not None:
            for role in self.roles:
                if role.name == name:
                    return role.keys
            return None
        assert self.succinct is not None
        return self.succinct.keys if self.succinct.is_delegated_role(name) else None


class TargetsMetadata:
    """A verified targets role: its target entries (all validated) and its delegations."""

    __slots__ = ("delegations", "expires", "expires_text", "name", "targets", "version")

    def __init__(
        self,
        name: str,
        version: int,
        expires: float,
        expires_text: str,
        targets: Mapping[str, dict[str, Any]],
        delegations: Delegations | None,
    ) -> None:
        self.name = name
        self.version = version
        self.expires = expires
        self.expires_text = expires_text
        self.targets = targets
        self.delegations = delegations


# ---------------------------------------------------------------------------------------------
# Root (§5.2, §5.3)


def _parse_root(data: bytes, what: str) -> tuple[RootMetadata, _Payload, dict[str, str]]:
    signed, signatures, raw = _envelope(data, what)
    version, expires, expires_text = _common(signed, "root", what)
    consistent = signed.get("consistent_snapshot")
    if "consistent_snapshot" in signed:
        consistent = _bool(consistent, f"{what} consistent_snapshot")
    keyring = KeyRing(_dict(signed.get("keys"), f"{what} keys"), f"root v{version}")
    raw_roles = _dict(signed.get("roles"), f"{what} roles")
    if set(raw_roles) != TOP_LEVEL_ROLES:
        _tampered(f"{what} roles must be exactly {', '.join(sorted(TOP_LEVEL_ROLES))}")
    roles = {name: _role_keys(role, f"{what} role {name}") for name, role in raw_roles.items()}
    # Key ids are checked eagerly for root: it is small and every key in it is trust-bearing.
    keyring.check_all()
    root = RootMetadata(version, expires, expires_text, keyring, roles, consistent, data)
    return root, _payload(signed, what, raw), signatures


def load_trusted_root(data: bytes, *, pinned_sha256: str, pinned_version: int) -> RootMetadata:
    """§5.2: the pinned root, trusted because its bytes hash to the pinned digest.

    Like python-tuf, it must also be signed by a threshold of its own root keys.
    """
    digest = hashlib.sha256(data).hexdigest()
    if digest != pinned_sha256.lower():
        _tampered(
            f"pinned root v{pinned_version} has SHA-256 {digest[:16]}…, but the pin says {pinned_sha256[:16]}…: "
            "the trusted root was replaced"
        )
    root, payload, signatures = _parse_root(data, f"root v{pinned_version}")
    if root.version != pinned_version:
        _tampered(f"pinned root file claims version {root.version}, the pin says {pinned_version}")
    _verify_threshold("root", root.roles["root"], root.keyring, payload, signatures, f"root v{root.version}")
    return root


def verify_next_root(current: RootMetadata, data: bytes) -> RootMetadata:
    """§5.3.4-5.3.5: the next root, signed by the current root's and its own root keys."""
    expected = current.version + 1
    what = f"root v{expected}"
    new, payload, signatures = _parse_root(data, what)
    label = f"root v{new.version}"
    _verify_threshold(
        label, current.roles["root"], current.keyring, payload, signatures, f"the previous root v{current.version}"
    )
    if new.version != expected:
        _tampered(f"expected root version {expected}, the file holds version {new.version}")
    _verify_threshold(label, new.roles["root"], new.keyring, payload, signatures, "that root itself")
    return new


def check_final_root(root: RootMetadata, now: float) -> None:
    """§5.3.10: the final root must not be expired."""
    if now >= root.expires:
        raise _expired(f"root (v{root.version})", root.expires_text, now)


# ---------------------------------------------------------------------------------------------
# Timestamp and snapshot (§5.4, §5.5)


def _metafile(raw: object, what: str) -> MetaFile:
    meta = _dict(raw, what)
    version = _int(meta.get("version"), f"{what} version", minimum=1)
    length = _int(meta["length"], f"{what} length", minimum=0) if "length" in meta else None
    hashes = _hashes(meta["hashes"], f"{what} hashes") if "hashes" in meta else None
    return MetaFile(version, length, hashes)


def verify_hashes(data: bytes, hashes: Mapping[str, str], what: str) -> None:
    """Every listed hash must match; an algorithm outside the allow-list never matches."""
    for algorithm, expected in hashes.items():
        hasher = _HASHES.get(algorithm)
        if hasher is None:
            _tampered(f"{what} names hash algorithm {algorithm!r}, which sealgate does not accept")
        observed = hasher(data).hexdigest()
        if observed != expected:
            _tampered(f"{what} has {algorithm} {observed[:16]}…, the signed metadata says {expected[:16]}…")


def verify_length_and_hashes(data: bytes, meta: MetaFile, what: str) -> None:
    """§5.5.2 / §5.6.2: length and hashes as the parent lists them, when it lists them."""
    if meta.length is not None and len(data) != meta.length:
        _tampered(f"{what} is {len(data)} bytes, the signed metadata says {meta.length}")
    if meta.hashes is not None:
        verify_hashes(data, meta.hashes, what)


def verify_timestamp(root: RootMetadata, data: bytes, now: float) -> TimestampMetadata:
    """§5.4: signed by the root's timestamp keys, then not expired."""
    check_final_root(root, now)
    signed, signatures, raw = _envelope(data, "timestamp")
    version, expires, expires_text = _common(signed, "timestamp", "timestamp")
    meta = _dict(signed.get("meta"), "timestamp meta")
    # python-tuf keeps only meta["snapshot.json"] and signs that re-serialisation: anything
    # else in meta could never verify there, so it is refused here.
    if set(meta) != {"snapshot.json"}:
        _tampered("timestamp meta must list exactly snapshot.json")
    snapshot_meta = _metafile(meta["snapshot.json"], "timestamp meta snapshot.json")
    payload = _payload(signed, "timestamp", raw)
    _verify_threshold("timestamp", root.roles["timestamp"], root.keyring, payload, signatures, "root")
    if now >= expires:
        raise _expired("timestamp", expires_text, now)
    return TimestampMetadata(version, expires, expires_text, snapshot_meta)


def verify_snapshot(root: RootMetadata, timestamp: TimestampMetadata, data: bytes, now: float) -> SnapshotMetadata:
    """§5.5: hashes as in timestamp, signed by the root's snapshot keys, not expired, version as in timestamp."""
    if now >= timestamp.expires:
        raise _expired("timestamp", timestamp.expires_text, now)
    verify_length_and_hashes(data, timestamp.snapshot_meta, "snapshot.json")
    signed, signatures, raw = _envelope(data, "snapshot")
    version, expires, expires_text = _common(signed, "snapshot", "snapshot")
    raw_meta = _dict(signed.get("meta"), "snapshot meta")
    meta = {name: _metafile(entry, f"snapshot meta {name}") for name, entry in raw_meta.items()}
    payload = _payload(signed, "snapshot", raw)
    _verify_threshold("snapshot", root.roles["snapshot"], root.keyring, payload, signatures, "root")
    if now >= expires:
        raise _expired("snapshot", expires_text, now)
    if version != timestamp.snapshot_meta.version:
        _tampered(
            f"snapshot is version {version}, but timestamp v{timestamp.version} names version "
            f"{timestamp.snapshot_meta.version}: mixed or rolled-back metadata"
        )
    return SnapshotMetadata(version, expires, expires_text, meta)


# ---------------------------------------------------------------------------------------------
# Targets and delegations (§5.6, TAP 15)


def _is_target_in_pathpattern(path: str, pattern: str) -> bool:
    """python-tuf's matching: same number of ``/`` segments, ``fnmatchcase`` on each."""
    path_parts = path.split("/")
    pattern_parts = pattern.split("/")
    if len(path_parts) != len(pattern_parts):
        return False
    return all(fnmatchcase(part, glob) for part, glob in zip(path_parts, pattern_parts, strict=True))


def _delegations(raw: object, owner: str) -> Delegations:
    what = f"{owner} delegations"
    delegations = _dict(raw, what)
    keyring = KeyRing(_dict(delegations.get("keys"), f"{what} keys"), owner)
    if ("roles" in delegations) == ("succinct_roles" in delegations):
        _tampered(f"{what} must have exactly one of roles and succinct_roles")
    if "roles" in delegations:
        raw_roles = delegations["roles"]
        if type(raw_roles) is not list:
            _tampered(f"{what} roles must be a list")
        roles: list[DelegatedRole] = []
        names: set[str] = set()
        for raw_role in raw_roles:
            entry = _dict(raw_role, f"{what} role")
            name = _str(entry.get("name"), f"{what} role name")
            if not name or name in TOP_LEVEL_ROLES:
                _tampered(f"{what} delegates to the reserved role name {name!r}")
            if name in names:
                _tampered(f"{what} delegates to {name!r} twice")
            names.add(name)
            keys = _role_keys(entry, f"{what} role {name}")
            terminating = _bool(entry.get("terminating"), f"{what} role {name} terminating")
            if ("paths" in entry) == ("path_hash_prefixes" in entry):
                _tampered(f"{what} role {name} must have exactly one of paths and path_hash_prefixes")
            paths = _str_list(entry["paths"], f"{what} role {name} paths", unique=False) if "paths" in entry else None
            prefixes = (
                _str_list(entry["path_hash_prefixes"], f"{what} role {name} path_hash_prefixes", unique=False)
                if "path_hash_prefixes" in entry
                else None
            )
            roles.append(DelegatedRole(name, keys, terminating, paths, prefixes))
        return Delegations(keyring, tuple(roles), None)
    entry = _dict(delegations["succinct_roles"], f"{what} succinct_roles")
    keys = _role_keys(entry, f"{what} succinct_roles")
    bit_length = _int(entry.get("bit_length"), f"{what} succinct_roles bit_length", minimum=1)
    if bit_length > 32:
        _tampered(f"{what} succinct_roles bit_length must be at most 32")
    prefix = _str(entry.get("name_prefix"), f"{what} succinct_roles name_prefix")
    return Delegations(keyring, None, SuccinctRoles(keys, bit_length, prefix))


def _validate_targets(raw: object, what: str) -> dict[str, dict[str, Any]]:
    targets = _dict(raw, f"{what} targets")
    # Every entry is checked, as python-tuf does when it parses the file: a malformed entry
    # anywhere makes the whole role unusable, not just that entry.
    for path, entry in targets.items():
        if (
            type(entry) is not dict
            or type(entry.get("length")) is not int
            or entry["length"] < 0
            or type(entry.get("hashes")) is not dict
            or not entry["hashes"]
            or any(type(digest) is not str for digest in entry["hashes"].values())
            or ("custom" in entry and type(entry["custom"]) is not dict)
        ):
            _tampered(f"{what} target {path[:200]!r} is malformed (length, hashes or custom)")
    return targets


def verify_delegated_targets(
    role: str,
    delegator_keys: RoleKeys | None,
    delegator_keyring: KeyRing,
    delegator_name: str,
    snapshot: SnapshotMetadata,
    data: bytes,
    now: float,
) -> TargetsMetadata:
    """§5.6 for ``targets`` (delegated by root) and any delegated targets role.

    Order as in python-tuf's ``update_delegated_targets``: snapshot lists the role, length
    and hashes match, threshold of the delegator's keys for it, version as in snapshot, not
    expired.
    """
    if now >= snapshot.expires:
        raise _expired("snapshot", snapshot.expires_text, now)
    meta = snapshot.meta.get(f"{role}.json")
    if meta is None:
        _tampered(f"role {role!r} is delegated by {delegator_name} but snapshot does not list {role}.json")
    if delegator_keys is None:
        _tampered(f"{delegator_name} does not delegate to {role!r}")
    what = f"{role} metadata"
    verify_length_and_hashes(data, meta, what)
    signed, signatures, raw = _envelope(data, what)
    version, expires, expires_text = _common(signed, "targets", what)
    targets = _validate_targets(signed.get("targets"), what)
    delegations = _delegations(signed["delegations"], role) if "delegations" in signed else None
    payload = _payload(signed, what, raw)
    _verify_threshold(role, delegator_keys, delegator_keyring, payload, signatures, delegator_name)
    if version != meta.version:
        _tampered(
            f"{role} metadata is version {version}, but snapshot names version {meta.version}: "
            "mixed or rolled-back metadata"
        )
    if now >= expires:
        raise _expired(role, expires_text, now)
    return TargetsMetadata(role, version, expires, expires_text, targets, delegations)
