"""The client side of the registry: pin a root, refresh ``trust/`` with tuf.ngclient.

``trust/`` is the gate's only view of the registry (layout in
:mod:`sealgate.registry.layout`). A host starts from a root whose SHA-256 it was told out of
band (:func:`pin_root`): it never trusts the first root it downloads. :func:`refresh` then
runs the TUF client workflow with python-tuf's ngclient against a repository directory or
an https URL, loads *every* delegated role (namespaces and all their bins, so the gate can
verify offline), downloads the trust policy, the name indexes, advisories and enclave entry
documents, and swaps the result in atomically.

Atomicity: each refresh builds a complete new view in ``trust/.views/<generation>/`` and
publishes it with one ``rename`` of the ``trust/.current`` symlink. ``trust/metadata``,
``trust/targets`` and ``trust/roots`` are fixed symlinks into ``.current``, so a reader sees
the old view or the new one. Refreshes hold an exclusive fcntl lock on ``trust/.lock``;
readers that open several files and want them from one generation hold it shared. A failed
refresh deletes its half-built generation and leaves the previous view untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sealgate.canonical import canonical_bytes, loads_strict
from sealgate.errors import (
    MalformedInputError,
    Reason,
    RegistryError,
    RegistryIntegrityError,
    SealgateError,
    UsageError,
)
from sealgate.registry import _checks
from sealgate.registry._files import atomic_write, format_time, fsync_dir, locked, read_bounded, utcnow
from sealgate.registry._tuf import (
    FetcherInterface,
    Metadata,
    Root,
    TargetFile,
    Targets,
    Updater,
    UpdaterConfig,
    Urllib3Fetcher,
)
from sealgate.registry._tuf import exceptions as tuf_exceptions
from sealgate.registry._tufkeys import check_tuf_keys
from sealgate.registry.layout import MINIMUMS_FILE

__all__ = [
    "DEFAULT_TIMEOUT",
    "DirectoryFetcher",
    "PinResult",
    "RefreshResult",
    "pin_root",
    "refresh",
]

DEFAULT_TIMEOUT = 30.0
DEFAULT_WALL_CLOCK = 600.0
ROOT_MAX = 512_000
DOCUMENT_MAX = 16 << 20
MAX_ROLES = 1_000_000
_LOCAL_BASE = "https://sealgate-local.invalid/"
_VIEW_LINKS = ("metadata", "targets", "roots")


@dataclass(frozen=True, slots=True)
class PinResult:
    root_version: int
    root_sha256: str
    trust_dir: Path

    def to_dict(self) -> dict[str, Any]:
        return {"root_version": self.root_version, "root_sha256": self.root_sha256, "trust_dir": str(self.trust_dir)}


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What a refresh verified and stored."""

    root_version: int
    timestamp_version: int
    snapshot_version: int
    targets_version: int
    roles_loaded: int
    targets_downloaded: int
    targets_reused: int
    last_refresh: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "root_version": self.root_version,
            "timestamp_version": self.timestamp_version,
            "snapshot_version": self.snapshot_version,
            "targets_version": self.targets_version,
            "roles_loaded": self.roles_loaded,
            "targets_downloaded": self.targets_downloaded,
            "targets_reused": self.targets_reused,
            "last_refresh": self.last_refresh,
            "source": self.source,
        }


class DirectoryFetcher(FetcherInterface):
    """Serve a repository directory to ngclient as if it were a web server.

    A missing file must be an HTTP 404, or ngclient's probe for the next root version
    would fail every refresh. Names are used exactly as ngclient quotes them (never
    unquoted), and nothing outside the directory is reachable.
    """

    def __init__(self, folder: Path, base_url: str = _LOCAL_BASE) -> None:
        self._folder = Path(folder).resolve()
        self._base = base_url

    def _fetch(self, url: str) -> Iterator[bytes]:
        if not url.startswith(self._base):
            raise tuf_exceptions.DownloadHTTPError(f"{url} is outside the repository", 404)
        path = (self._folder / url[len(self._base) :]).resolve()
        if not path.is_relative_to(self._folder):
            raise tuf_exceptions.DownloadHTTPError(f"{url} escapes the repository", 403)
        try:
            handle = open(path, "rb")  # noqa: SIM115 - closed by the generator below
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise tuf_exceptions.DownloadHTTPError(f"{url} not found", 404) from None

        def chunks() -> Iterator[bytes]:
            with handle:
                while chunk := handle.read(65536):
                    yield chunk

        return chunks()


class _BoundedFetcher(Urllib3Fetcher):
    """urllib3 with a per-read timeout (urllib3's) and a wall-clock limit over the whole refresh."""

    def __init__(self, timeout: float, wall_clock: float) -> None:
        super().__init__(socket_timeout=max(1, int(timeout)), app_user_agent="sealgate")
        self._deadline = time.monotonic() + wall_clock

    def _fetch(self, url: str) -> Iterator[bytes]:
        if time.monotonic() > self._deadline:
            raise tuf_exceptions.SlowRetrievalError(f"refresh exceeded its time limit before fetching {url}")
        inner: Iterator[bytes] = super()._fetch(url)

        def chunks() -> Iterator[bytes]:
            for chunk in inner:
                if time.monotonic() > self._deadline:
                    raise tuf_exceptions.SlowRetrievalError(f"refresh exceeded its time limit while fetching {url}")
                yield chunk

        return chunks()


# ---------------------------------------------------------------------------------------------


def _trust(home: Path) -> Path:
    return Path(home) / "trust"


def _parse_root(data: bytes, what: str) -> Metadata[Root]:
    try:
        md: Metadata[Root] = Metadata.from_dict(loads_strict(data, what=what, max_size=ROOT_MAX))
    except MalformedInputError as exc:
        raise RegistryIntegrityError(exc.message) from exc
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RegistryIntegrityError(f"{what} is not valid TUF root metadata ({exc})") from exc
    if not isinstance(md.signed, Root):
        raise RegistryIntegrityError(f"{what} is {md.signed.type} metadata, not a root")
    return md


def _read_pin(trust: Path) -> tuple[int, str]:
    try:
        data = read_bounded(trust / "pin.json", 4096, "pin")
    except FileNotFoundError as exc:
        raise RegistryError(
            f"{trust}/pin.json is missing: this host has no pinned registry root; run `sealgate init --root FILE"
            " --root-sha256 HEX` first",
            reason=Reason.REGISTRY_UNAVAILABLE,
        ) from exc
    doc = loads_strict(data, what="trust/pin.json")
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("root_version"), int)
        or not isinstance(doc.get("root_sha256"), str)
    ):
        raise RegistryIntegrityError('trust/pin.json must be {"root_version": N, "root_sha256": HEX}')
    return doc["root_version"], doc["root_sha256"]


def _link(trust: Path, name: str, target: str) -> None:
    """Point ``trust/name`` at ``target`` atomically (a new symlink renamed over the old one)."""
    tmp = trust / f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    os.symlink(target, tmp)
    os.replace(tmp, trust / name)


def _ensure_view_links(trust: Path) -> None:
    for name in _VIEW_LINKS:
        path = trust / name
        expected = f".current/{name}"
        if path.is_symlink():
            if os.readlink(path) != expected:
                raise RegistryError(f"{path} points elsewhere than {expected}; remove it and pin the root again")
            continue
        if path.exists():
            raise RegistryError(
                f"{path} is not managed by sealgate refresh (expected a symlink to {expected});"
                " move the trust directory away and pin the root again"
            )
        _link(trust, name, expected)


def _new_generation(trust: Path) -> Path:
    views = trust / ".views"
    views.mkdir(parents=True, exist_ok=True)
    gen = views / f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
    gen.mkdir()
    for sub in ("metadata", "targets", "roots"):
        (gen / sub).mkdir()
    return gen


def _fsync_tree(top: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(top):
        for filename in filenames:
            fd = os.open(os.path.join(dirpath, filename), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def _current_generation(trust: Path) -> Path:
    current = trust / ".current"
    if not current.is_symlink():
        raise RegistryError(f"{current} is missing: pin the root again (`sealgate init --root ...`)")
    target = (trust / os.readlink(current)).resolve()
    if not target.is_relative_to((trust / ".views").resolve()) or not target.is_dir():
        raise RegistryIntegrityError(f"{current} does not point into {trust}/.views")
    return target


def _write_root_files(gen: Path, version: int, data: bytes) -> None:
    (gen / "roots" / f"{version}.root.json").write_bytes(data)
    history = gen / "metadata" / "root_history"
    history.mkdir(exist_ok=True)
    (history / f"{version}.root.json").write_bytes(data)


def pin_root(home: Path, root_bytes: bytes, expected_sha256_hex: str, source: str) -> PinResult:
    """Trust ``root_bytes`` as this host's registry root, but only if its SHA-256 is the expected one.

    The expected hash comes out of band (a release note, the operator); a root whose hash
    differs is refused and nothing is written. Writes ``trust/pin.json``,
    ``trust/roots/N.root.json`` and ``trust/metadata/root.json`` (layout.py); ``source`` (a
    repository directory or URL) is remembered in ``trust/source.json`` for :func:`refresh`.
    """
    expected = expected_sha256_hex.strip().lower()
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise UsageError("the expected root SHA-256 must be 64 hex digits")
    actual = hashlib.sha256(root_bytes).hexdigest()
    if actual != expected:
        raise RegistryIntegrityError(
            f"the root file's SHA-256 is {actual}, not the expected {expected}: do not trust it; get the root and its"
            " hash from the registry operators through a channel you trust",
            reason=Reason.REGISTRY_TAMPERED,
        )
    md = _parse_root(root_bytes, "root file")
    _checks.check_root(md.signed, "root file")
    result = md.signed.get_root_verification_result(None, md.signed_bytes, md.signatures)
    if not result.verified:
        raise RegistryIntegrityError(
            f"the root file is signed by {len(result.first.signed)} of the {result.first.threshold} root keys it names;"
            " a root must meet its own threshold"
        )
    version = md.signed.version
    trust = _trust(home)
    trust.mkdir(parents=True, exist_ok=True)
    with locked(trust / ".lock"):
        if (trust / "pin.json").exists():
            pinned = _read_pin(trust)
            if pinned == (version, actual):
                return PinResult(version, actual, trust)
            raise UsageError(
                f"{trust} is already pinned to root v{pinned[0]} ({pinned[1][:16]}…); to re-pin, move the trust"
                " directory away first"
            )
        gen = _new_generation(trust)
        _write_root_files(gen, version, root_bytes)
        (gen / "metadata" / "root.json").write_bytes(root_bytes)
        _fsync_tree(gen)
        _link(trust, ".current", f".views/{gen.name}")
        _ensure_view_links(trust)
        atomic_write(trust / "source.json", canonical_bytes({"source": source}))
        # pin.json last: a host is pinned only once the view it points to is complete.
        atomic_write(trust / "pin.json", canonical_bytes({"root_version": version, "root_sha256": actual}))
    return PinResult(version, actual, trust)


def _verified_roots(trust: Path, gen: Path) -> list[tuple[int, bytes]]:
    """The pinned root (checked against pin.json) and every later root, each verified by the one before."""
    pin_version, pin_sha = _read_pin(trust)
    roots: list[tuple[int, bytes]] = []
    previous: Root | None = None
    version = pin_version
    while True:
        path = gen / "roots" / f"{version}.root.json"
        try:
            data = read_bounded(path, ROOT_MAX, "cached root")
        except FileNotFoundError:
            break
        md = _parse_root(data, f"trust/roots/{version}.root.json")
        if previous is None and (hashlib.sha256(data).hexdigest() != pin_sha or md.signed.version != pin_version):
            raise RegistryIntegrityError(
                f"trust/roots/{version}.root.json does not match trust/pin.json: the trust directory was altered"
            )
        result = md.signed.get_root_verification_result(previous, md.signed_bytes, md.signatures)
        if md.signed.version != version or not result.verified:
            raise RegistryIntegrityError(
                f"trust/roots/{version}.root.json does not verify: the trust directory was altered"
            )
        roots.append((version, data))
        previous = md.signed
        version += 1
    if not roots:
        raise RegistryIntegrityError(f"the pinned root trust/roots/{pin_version}.root.json is missing")
    return roots


def _translate(exc: BaseException, source: str) -> SealgateError:
    kept = "The previous registry view is kept."
    if isinstance(exc, tuf_exceptions.BadVersionNumberError):
        return RegistryIntegrityError(
            f"the registry at {source} served metadata older than this host already trusts ({exc}): a rollback attack"
            f" or a stale mirror. {kept}",
            reason=Reason.REGISTRY_ROLLBACK,
        )
    if isinstance(exc, tuf_exceptions.ExpiredMetadataError):
        return RegistryIntegrityError(
            f"registry metadata from {source} has expired ({exc}): the operators must re-sign it (`sealgate registry"
            f" timestamp`, or a renewal proposal), or someone is replaying old metadata (a freeze attack). {kept}",
            reason=Reason.METADATA_EXPIRED,
        )
    if isinstance(exc, (tuf_exceptions.RepositoryError, tuf_exceptions.DownloadLengthMismatchError)):
        return RegistryIntegrityError(
            f"registry metadata or files from {source} failed verification ({type(exc).__name__}: {exc}): tampered, or"
            f" signed with the wrong keys. {kept}",
            reason=Reason.REGISTRY_TAMPERED,
        )
    if isinstance(exc, tuf_exceptions.DownloadError):
        return RegistryError(
            f"could not download the registry from {source} ({type(exc).__name__}: {exc}); check the address and the"
            f" network, then refresh again. {kept}",
            reason=Reason.REGISTRY_UNAVAILABLE,
        )
    if isinstance(exc, OSError):
        return RegistryError(f"could not write the registry view: {exc}. {kept}", reason=Reason.REGISTRY_UNAVAILABLE)
    return RegistryError(
        f"refresh from {source} failed: {type(exc).__name__}: {exc}. {kept}", reason=Reason.INTERNAL_ERROR
    )


def _fetcher_for(source: str | Path, timeout: float, wall_clock: float) -> tuple[FetcherInterface, str, str]:
    """(fetcher, base URL, printable source) for a repository directory or an https URL."""
    if isinstance(source, Path) or "://" not in str(source):
        folder = Path(source).resolve()
        if not (folder / "metadata").is_dir():
            raise RegistryError(f"{folder} is not a registry repository directory (no metadata/ inside)")
        return DirectoryFetcher(folder), _LOCAL_BASE, str(folder)
    url = str(source)
    parts = urlsplit(url)
    host = parts.hostname or ""
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise UsageError(f"registry URL {url} must use https (plain http is accepted only for a loopback address)")
    base = url if url.endswith("/") else url + "/"
    return _BoundedFetcher(timeout, wall_clock), base, url


def _load_all_roles(updater: Updater) -> int:
    """Load (verify and cache) every delegated role, namespaces and all their bins."""
    trusted = updater._trusted_set
    limit = min(MAX_ROLES, len(trusted.snapshot.meta) + 1)
    stack: list[tuple[str, str]] = []
    top: Targets = trusted.targets
    loaded = 1

    def children(role: str, targets: Targets) -> None:
        delegations = targets.delegations
        if delegations is None:
            return
        names = list(delegations.roles) if delegations.roles is not None else []
        if delegations.succinct_roles is not None:
            names = list(delegations.succinct_roles.get_roles())
        stack.extend((name, role) for name in reversed(names))

    children("targets", top)
    while stack:
        name, parent = stack.pop()
        loaded += 1
        if loaded > limit:
            raise RegistryIntegrityError("the registry delegates more roles than its snapshot lists")
        targets = updater._load_targets(name, parent)
        children(name, targets)
    return loaded


def _check_all_keys(updater: Updater) -> None:
    trusted = updater._trusted_set
    check_tuf_keys(trusted.root.keys, "root")
    for signed in trusted:
        if isinstance(signed, Targets) and signed.delegations is not None:
            check_tuf_keys(signed.delegations.keys, "delegations")


#: ``trust/enclave-minimums.json``: per enclave name the highest SGX minimum ISV SVN seen (an
#: integer), and under ``NAME/tdx`` the highest minimum TEE TCB SVN seen, component by
#: component (a list of 16 integers).
Minimum = int | list[int]


def _read_minimums(trust: Path) -> dict[str, Minimum]:
    try:
        data = json.loads((trust / MINIMUMS_FILE).read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise RegistryIntegrityError(
            f"{trust / MINIMUMS_FILE} cannot be read ({exc}); it records the enclave minimums this host has seen",
            reason=Reason.REGISTRY_TAMPERED,
        ) from exc

    def valid(key: object, value: object) -> bool:
        if not isinstance(key, str):
            return False
        if key.endswith("/tdx"):
            return isinstance(value, list) and len(value) == 16 and all(type(v) is int for v in value)
        return type(value) is int

    if not isinstance(data, dict) or not all(valid(k, v) for k, v in data.items()):
        raise RegistryIntegrityError(f"{trust / MINIMUMS_FILE} is malformed", reason=Reason.REGISTRY_TAMPERED)
    return data


def _lower(new: Minimum, old: Minimum) -> bool:
    if isinstance(new, int) and isinstance(old, int):
        return new < old
    assert isinstance(new, list) and isinstance(old, list)
    return any(a < b for a, b in zip(new, old, strict=True))


def _higher(a: Minimum, b: Minimum) -> Minimum:
    if isinstance(a, int) and isinstance(b, int):
        return max(a, b)
    assert isinstance(a, list) and isinstance(b, list)
    return [max(x, y) for x, y in zip(a, b, strict=True)]


def _enclave_minimums(targets: Path, remembered: dict[str, Minimum]) -> dict[str, Minimum]:
    """The new view's highest minimum per enclave name (SGX; TDX per component); refuse a view that
    lowers a remembered one."""
    from sealgate.registry.documents import EnclaveEntryDocument

    seen: dict[str, Minimum] = {}
    root = targets / "enclaves"
    if root.is_dir():
        for name_dir in sorted(root.iterdir()):
            for entry in sorted(name_dir.iterdir()):
                doc = EnclaveEntryDocument.from_bytes(entry.read_bytes())
                value: Minimum
                if doc.tee == "sgx":
                    key, value = name_dir.name, doc.min_isv_svn
                elif doc.tdx is not None:
                    key, value = f"{name_dir.name}/tdx", list(bytes.fromhex(doc.tdx.min_tee_tcb_svn))
                else:
                    continue
                seen[key] = _higher(seen[key], value) if key in seen else value
    lowered = sorted(k for k, low in remembered.items() if k in seen and _lower(seen[k], low))
    if lowered:
        raise RegistryIntegrityError(
            "the registry lowers the minimum security version of "
            + ", ".join(f"{k} ({remembered[k]} -> {seen[k]})" for k in lowered)
            + "; this host keeps the previous registry view",
            reason=Reason.MINIMUM_LOWERED,
        )
    return {**remembered, **{k: _higher(v, remembered[k]) if k in remembered else v for k, v in seen.items()}}


def _wanted_targets(updater: Updater) -> list[TargetFile]:
    """Documents the gate reads offline: policy, indexes, advisories (top level) and enclave entries."""
    wanted: list[TargetFile] = []
    for signed in updater._trusted_set:
        if isinstance(signed, Targets):
            for path, target in signed.targets.items():
                if path.startswith(("policy/", "index/", "advisories/", "enclaves/")):
                    wanted.append(target)
    return wanted


def _local_path(base: Path, target_path: str) -> Path:
    parts = target_path.split("/")
    if any(part in ("", ".", "..") or "\\" in part or "\x00" in part for part in parts):
        raise RegistryIntegrityError(f"target path {target_path!r} is not a safe relative path")
    return base.joinpath(*parts)


def _store_targets(updater: Updater, old: Path | None, new: Path) -> tuple[int, int]:
    downloaded = reused = 0
    for target in _wanted_targets(updater):
        if target.length > DOCUMENT_MAX:
            raise RegistryError(
                f"registry document {target.path} is {target.length} bytes, over the limit", reason=Reason.TOO_LARGE
            )
        dest = _local_path(new, target.path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        previous = _local_path(old, target.path) if old is not None else None
        if previous is not None and not previous.is_symlink() and updater.find_cached_target(target, str(previous)):
            try:
                os.link(previous, dest)
            except OSError:
                shutil.copyfile(previous, dest)
            reused += 1
            continue
        updater.download_target(target, str(dest))
        downloaded += 1
    return downloaded, reused


def _prune(trust: Path, keep: set[str]) -> None:
    views = trust / ".views"
    for entry in views.iterdir():
        if entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)


def refresh(
    home: Path,
    source: str | Path | None = None,
    now: datetime | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    wall_clock: float = DEFAULT_WALL_CLOCK,
) -> RefreshResult:
    """Refresh ``trust/`` from a repository directory or URL with tuf.ngclient; atomic, locked.

    ``source`` defaults to the one given to :func:`pin_root`. ``now`` is the reference time
    for expiry checks (tests pass a fake clock; production never should). Rollbacks raise
    :class:`RegistryIntegrityError` with ``registry-rollback``, expiry ``metadata-expired``,
    bad signatures or hashes ``registry-tampered``; download failures raise
    :class:`RegistryError` with ``registry-unavailable``. On any failure the previous view
    stays in place.
    """
    trust = _trust(home)
    if source is None:
        try:
            doc = loads_strict(read_bounded(trust / "source.json", 4096, "source"), what="trust/source.json")
        except FileNotFoundError as exc:
            raise UsageError(
                "no registry source given and none remembered: pass the repository directory or URL"
            ) from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("source"), str):
            raise MalformedInputError('trust/source.json must be {"source": ...}')
        source = doc["source"]
    fetcher, base, printable = _fetcher_for(source, timeout, wall_clock)
    moment = now or utcnow()
    with locked(trust / ".lock"):
        _read_pin(trust)
        _ensure_view_links(trust)
        current = _current_generation(trust)
        roots = _verified_roots(trust, current)
        gen = _new_generation(trust)
        try:
            for version, data in roots:
                _write_root_files(gen, version, data)
            for entry in (current / "metadata").iterdir():
                # Only ngclient's cached metadata; never root.json (rebuilt from verified roots) or temp files.
                if entry.suffix == ".json" and entry.is_file() and not entry.is_symlink() and entry.name != "root.json":
                    shutil.copyfile(entry, gen / "metadata" / entry.name)
            newest_version, newest = roots[-1]
            updater = Updater(
                str(gen / "metadata"),
                base + "metadata/",
                str(gen / "targets"),
                base + "targets/",
                fetcher=fetcher,
                config=UpdaterConfig(app_user_agent="sealgate"),
                bootstrap=newest,
            )
            if now is not None:
                updater._trusted_set.reference_time = moment
            updater.refresh()
            roles_loaded = _load_all_roles(updater)
            _check_all_keys(updater)
            _checks.check_root(updater._trusted_set.root, "root")
            downloaded, reused = _store_targets(updater, current / "targets", gen / "targets")
            minimums = _enclave_minimums(gen / "targets", _read_minimums(trust))
            trusted = updater._trusted_set
            root_version = trusted.root.version
            for version in range(newest_version + 1, root_version + 1):
                data = (gen / "metadata" / "root_history" / f"{version}.root.json").read_bytes()
                (gen / "roots" / f"{version}.root.json").write_bytes(data)
            # ngclient leaves root.json as a symlink into root_history; readers get a plain file.
            final_root = (gen / "roots" / f"{root_version}.root.json").read_bytes()
            root_json = gen / "metadata" / "root.json"
            if root_json.is_symlink() or root_json.exists():
                root_json.unlink()
            root_json.write_bytes(final_root)
            _fsync_tree(gen)
            result = RefreshResult(
                root_version,
                trusted.timestamp.version,
                trusted.snapshot.version,
                trusted.targets.version,
                roles_loaded,
                downloaded,
                reused,
                format_time(moment),
                printable,
            )
        except SealgateError:
            shutil.rmtree(gen, ignore_errors=True)
            raise
        except Exception as exc:
            shutil.rmtree(gen, ignore_errors=True)
            raise _translate(exc, printable) from exc
        except BaseException:
            shutil.rmtree(gen, ignore_errors=True)
            raise
        _link(trust, ".current", f".views/{gen.name}")
        fsync_dir(trust)
        atomic_write(trust / MINIMUMS_FILE, canonical_bytes(minimums))
        atomic_write(
            trust / "refresh.json", canonical_bytes({"last_refresh": format_time(moment), "source": printable})
        )
        _prune(trust, {gen.name, current.name})
    return result
