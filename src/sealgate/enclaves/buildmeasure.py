"""What ``sealgate ci measure`` reports for a build: one measurement, recomputed from the bytes.

Three kinds, one per kind of build:

* ``sgx-mrenclave``: the MRENCLAVE of a verified SGX SIGSTRUCT (:mod:`.sigstruct`), with
  MRSIGNER, ISV product id and security version in the details;
* ``file-sha256``: the SHA-256 of one regular file (the same value as sealgate's artifact
  digest of a single file);
* ``oci-manifest``: the digest of the image manifest an OCI image layout's ``index.json``
  refers to (the digest ``docker pull NAME@sha256:…`` and signers use). It is never taken
  on trust from ``index.json``: the manifest blob is re-hashed and its size checked, and so
  is every blob it names (config and layers), so the measurement stands for the image the
  layout really holds. A nested image index (multi-platform builds) is followed; when more
  than one manifest remains, ``platform`` (``os/arch[/variant]``) must pick exactly one.
  Buildx attestation manifests (annotation ``vnd.docker.reference.type:
  attestation-manifest``) are not images and are left out.

Every failure raises :class:`~sealgate.errors.MalformedInputError` naming what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sealgate._dataclass import dataclass, field
from sealgate.errors import MalformedInputError, Reason

__all__ = [
    "INDEX_MEDIA_TYPES",
    "MANIFEST_MEDIA_TYPES",
    "BuildMeasurement",
    "measure_file",
    "measure_oci_layout",
    "measure_sigstruct",
]

MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MAX_JSON_BLOB = 4 << 20  # manifests and indexes; registries refuse larger ones too
MAX_DESCRIPTORS = 1000
MAX_INDEX_DEPTH = 4
_SHA256_DIGEST = re.compile(r"^sha256:([0-9a-f]{64})$")
_PLATFORM = re.compile(r"^[a-z0-9._-]+/[a-z0-9._-]+(?:/[a-z0-9._-]+)?$")
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class BuildMeasurement:
    """One measurement of a build: ``kind``, ``value`` (64 lowercase hex) and the facts behind it."""

    kind: str
    value: str
    source: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "source": self.source, "details": dict(self.details)}


def measure_sigstruct(path: Path | str) -> BuildMeasurement:
    """MRENCLAVE of a SIGSTRUCT whose signature verified (see :mod:`.sigstruct`)."""
    from sealgate.enclaves.sigstruct import read_sigstruct

    sig = read_sigstruct(path)
    return BuildMeasurement("sgx-mrenclave", sig.mrenclave, str(path), sig.to_dict())


def _open_regular(path: str | Path, what: str, dir_fd: int | None = None) -> int:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError as exc:
        raise MalformedInputError(f"{what} does not exist") from exc
    except OSError as exc:
        raise MalformedInputError(f"{what} cannot be opened without following links: {exc.strerror}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise MalformedInputError(f"{what} is not a regular file")
    return fd


def _hash_fd(fd: int, what: str, limit: int | None = None) -> tuple[str, int, bytes | None]:
    """SHA-256 and size of what ``fd`` holds; with ``limit``, also the bytes (refused past it)."""
    digest = hashlib.sha256()
    size = 0
    kept: list[bytes] | None = [] if limit is not None else None
    try:
        while chunk := os.read(fd, _CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if kept is not None:
                assert limit is not None
                if size > limit:
                    raise MalformedInputError(f"{what} is larger than {limit} bytes", reason=Reason.TOO_LARGE)
                kept.append(chunk)
    except OSError as exc:
        raise MalformedInputError(f"{what} cannot be read: {exc.strerror}") from exc
    return digest.hexdigest(), size, b"".join(kept) if kept is not None else None


def measure_file(path: Path | str) -> BuildMeasurement:
    """SHA-256 of a regular file, streamed (no size limit: nothing is kept). Symlinks are refused."""
    what = f"file {path}"
    fd = _open_regular(path, what)
    try:
        value, size, _ = _hash_fd(fd, what)
    finally:
        os.close(fd)
    return BuildMeasurement("file-sha256", value, str(path), {"size": size})


class _Layout:
    """An OCI image layout directory, read without following symbolic links."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            self.dir_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise MalformedInputError(f"OCI layout {root} cannot be opened as a directory: {exc.strerror}") from exc
        self.blobs_verified = 0

    def close(self) -> None:
        os.close(self.dir_fd)

    def read_top(self, name: str) -> Any:
        what = f"OCI layout {self.root}: {name}"
        fd = _open_regular(name, what, dir_fd=self.dir_fd)
        try:
            _, _, data = _hash_fd(fd, what, MAX_JSON_BLOB)
        finally:
            os.close(fd)
        assert data is not None
        return _json(data, what)

    def blob(self, descriptor: Mapping[str, Any], *, keep: bool) -> bytes | None:
        """Open ``blobs/sha256/HEX`` and check its size and SHA-256 against the descriptor."""
        hexdigest = _descriptor_digest(descriptor)
        what = f"OCI layout {self.root}: blob sha256:{hexdigest}"
        fds: list[int] = []
        try:
            parent = self.dir_fd
            for part in ("blobs", "sha256"):
                try:
                    parent = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
                except OSError as exc:
                    raise MalformedInputError(f"{what}: blobs/{part} cannot be opened: {exc.strerror}") from exc
                fds.append(parent)
            fd = _open_regular(hexdigest, what, dir_fd=parent)
            fds.append(fd)
            actual, size, data = _hash_fd(fd, what, MAX_JSON_BLOB if keep else None)
        finally:
            for opened in reversed(fds):
                os.close(opened)
        if size != descriptor["size"]:
            raise MalformedInputError(f"{what}: {size} bytes, the descriptor says {descriptor['size']}")
        if actual != hexdigest:
            raise MalformedInputError(f"{what}: its content hashes to sha256:{actual}", reason=Reason.DIGEST_MISMATCH)
        self.blobs_verified += 1
        return data


def _json(data: bytes, what: str) -> Any:
    from sealgate.canonical import loads_strict

    return loads_strict(data, what=what, max_size=MAX_JSON_BLOB)


def _descriptor_digest(descriptor: Mapping[str, Any]) -> str:
    digest = descriptor.get("digest")
    match = _SHA256_DIGEST.match(digest) if isinstance(digest, str) else None
    if match is None:
        raise MalformedInputError(f"OCI descriptor digest {digest!r} is not sha256:<64 lowercase hex>")
    return match.group(1)


def _descriptors(document: Any, key: str, what: str) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        raise MalformedInputError(f"{what} is not a JSON object")
    items = document.get(key)
    if not isinstance(items, list) or len(items) > MAX_DESCRIPTORS:
        raise MalformedInputError(f"{what}: {key} must be a list of at most {MAX_DESCRIPTORS} descriptors")
    for item in items:
        size = item.get("size") if isinstance(item, dict) else None
        if not isinstance(item, dict) or not isinstance(item.get("mediaType"), str) or type(size) is not int:
            raise MalformedInputError(f"{what}: every descriptor needs a mediaType and an integer size")
        if size < 0:
            raise MalformedInputError(f"{what}: a descriptor has a negative size")
        _descriptor_digest(item)
    return items


def _platform_of(descriptor: Mapping[str, Any]) -> str | None:
    platform = descriptor.get("platform")
    if not isinstance(platform, dict):
        return None
    parts = [platform.get("os"), platform.get("architecture")]
    if platform.get("variant"):
        parts.append(platform.get("variant"))
    return "/".join(str(p) for p in parts)


def _is_attestation(descriptor: Mapping[str, Any]) -> bool:
    annotations = descriptor.get("annotations")
    return isinstance(annotations, dict) and annotations.get("vnd.docker.reference.type") == "attestation-manifest"


_Found = list[tuple[dict[str, Any], tuple[str, ...]]]


def _collect(layout: _Layout, index: Any, what: str, chain: tuple[str, ...], depth: int, out: _Found) -> None:
    for descriptor in _descriptors(index, "manifests", what):
        media_type = descriptor["mediaType"]
        if _is_attestation(descriptor):
            continue
        if media_type in MANIFEST_MEDIA_TYPES:
            out.append((descriptor, chain))
        elif media_type in INDEX_MEDIA_TYPES:
            if depth >= MAX_INDEX_DEPTH:
                raise MalformedInputError(f"{what}: image indexes nested deeper than {MAX_INDEX_DEPTH}")
            data = layout.blob(descriptor, keep=True)
            assert data is not None
            label = f"image index {descriptor['digest']}"
            nested = _json(data, label)
            _check_media_type(nested, media_type, label)
            _collect(layout, nested, label, (*chain, descriptor["digest"]), depth + 1, out)


def _check_media_type(document: Any, expected: str, what: str) -> None:
    if not isinstance(document, dict) or document.get("schemaVersion") != 2:
        raise MalformedInputError(f"{what}: schemaVersion must be 2")
    declared = document.get("mediaType")
    if declared is not None and declared != expected:
        raise MalformedInputError(f"{what}: mediaType {declared!r} differs from the descriptor's {expected!r}")


def measure_oci_layout(root: Path | str, *, platform: str | None = None) -> BuildMeasurement:
    """The digest of the one image manifest the layout's ``index.json`` refers to, re-verified.

    ``platform`` (``os/arch`` or ``os/arch/variant``) picks one manifest where the layout
    holds several; without it a layout with more than one manifest is refused.
    """
    if platform is not None and not _PLATFORM.match(platform):
        raise MalformedInputError(f"platform {platform!r} is not os/arch or os/arch/variant")
    layout = _Layout(Path(root))
    try:
        marker = layout.read_top("oci-layout")
        if not isinstance(marker, dict) or marker.get("imageLayoutVersion") != "1.0.0":
            raise MalformedInputError(f"OCI layout {root}: oci-layout must say imageLayoutVersion 1.0.0")
        index = layout.read_top("index.json")
        if isinstance(index, dict) and index.get("schemaVersion") != 2:
            raise MalformedInputError(f"OCI layout {root}: index.json schemaVersion must be 2")
        found: _Found = []
        _collect(layout, index, f"OCI layout {root}: index.json", (), 0, found)
        if platform is not None:
            found = [(d, c) for d, c in found if _platform_of(d) == platform]
        if len(found) != 1:
            listed = sorted({f"{d['digest']} ({_platform_of(d) or 'no platform'})" for d, _ in found})
            if platform is not None:
                reason = f"{len(found)} image manifests for platform {platform}"
            elif found:
                reason = f"{len(found)} image manifests; pick one with --platform"
            else:
                reason = "no image manifest"
            raise MalformedInputError(f"OCI layout {root}: {reason}" + (f": {', '.join(listed)}" if listed else ""))
        descriptor, chain = found[0]
        data = layout.blob(descriptor, keep=True)
        assert data is not None
        what = f"image manifest {descriptor['digest']}"
        manifest = _json(data, what)
        _check_media_type(manifest, descriptor["mediaType"], what)
        config = manifest.get("config")
        if not isinstance(config, dict):
            raise MalformedInputError(f"{what}: no config descriptor")
        for blob in [*_descriptors({"config": [config]}, "config", what), *_descriptors(manifest, "layers", what)]:
            layout.blob(blob, keep=False)
        annotations = descriptor.get("annotations")
        ref_name = annotations.get("org.opencontainers.image.ref.name") if isinstance(annotations, dict) else None
        details = {
            "digest": descriptor["digest"],
            "media_type": descriptor["mediaType"],
            "size": descriptor["size"],
            "platform": _platform_of(descriptor),
            "ref_name": ref_name,
            "via_indexes": list(chain),
            "blobs_verified": layout.blobs_verified,
        }
    finally:
        layout.close()
    return BuildMeasurement("oci-manifest", _descriptor_digest(descriptor), str(root), details)


def describe(measurement: BuildMeasurement) -> str:
    """One line per fact, for people (the JSON form is :meth:`BuildMeasurement.to_dict`)."""
    lines = [f"kind: {measurement.kind}", f"value: {measurement.value}", f"source: {measurement.source}"]
    for key, value in measurement.details.items():
        lines.append(f"{key}: {value if isinstance(value, str) else json.dumps(value)}")
    return "\n".join(lines)
