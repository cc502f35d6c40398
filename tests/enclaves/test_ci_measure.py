"""ci measure: a SIGSTRUCT's MRENCLAVE, a file's SHA-256, an OCI layout's manifest digest, all re-verified."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from sealgate.cli import main
from sealgate.digest import read_artifact
from sealgate.enclaves.buildmeasure import measure_file, measure_oci_layout
from sealgate.errors import MalformedInputError, Reason
from tests.enclaves.sigstruct_maker import make_sigstruct, new_key

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def _canon(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


class Layout:
    """An OCI image layout written by hand, blob by blob (image-spec v1.1 image-layout.md)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}', encoding="utf-8")

    def blob(self, data: bytes, media_type: str, **extra: Any) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        (self.root / "blobs" / "sha256" / digest).write_bytes(data)
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data), **extra}

    def image(self, layer: bytes, **extra: Any) -> tuple[dict[str, Any], bytes]:
        config = self.blob(_canon({"architecture": "amd64", "os": "linux"}), "application/vnd.oci.image.config.v1+json")
        layers = [self.blob(layer, "application/vnd.oci.image.layer.v1.tar+gzip")]
        manifest = _canon({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers})
        return self.blob(manifest, OCI_MANIFEST, **extra), manifest

    def index(self, descriptors: list[dict[str, Any]]) -> None:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
        (self.root / "index.json").write_bytes(_canon(index))


def _platform(os_: str, arch: str) -> dict[str, Any]:
    return {"platform": {"os": os_, "architecture": arch}}


def test_single_manifest_layout_measures_the_manifest_digest(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    descriptor, manifest = layout.image(b"layer one", annotations={"org.opencontainers.image.ref.name": "1.0"})
    layout.index([descriptor])
    measured = measure_oci_layout(layout.root)
    assert measured.kind == "oci-manifest"
    assert measured.value == hashlib.sha256(manifest).hexdigest()
    assert measured.details["ref_name"] == "1.0"
    assert measured.details["blobs_verified"] == 3  # manifest, config, layer


def test_multi_platform_layout_needs_platform(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    amd, amd_manifest = layout.image(b"amd64 layer", **_platform("linux", "amd64"))
    arm, _ = layout.image(b"arm64 layer", **_platform("linux", "arm64"))
    attestation, _ = layout.image(
        b"provenance", **_platform("unknown", "unknown"),
        annotations={"vnd.docker.reference.type": "attestation-manifest"},
    )  # fmt: skip
    nested = _canon({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [amd, arm, attestation]})
    layout.index([layout.blob(nested, OCI_INDEX)])
    with pytest.raises(MalformedInputError, match="2 image manifests; pick one with --platform"):
        measure_oci_layout(layout.root)
    measured = measure_oci_layout(layout.root, platform="linux/amd64")
    assert measured.value == hashlib.sha256(amd_manifest).hexdigest()
    assert measured.details["via_indexes"] == [f"sha256:{hashlib.sha256(nested).hexdigest()}"]
    with pytest.raises(MalformedInputError, match="0 image manifests for platform linux/s390x"):
        measure_oci_layout(layout.root, platform="linux/s390x")


def test_tampered_manifest_blob_is_refused(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    descriptor, manifest = layout.image(b"layer")
    layout.index([descriptor])
    path = layout.root / "blobs" / "sha256" / descriptor["digest"].split(":")[1]
    path.write_bytes(manifest.replace(b'"schemaVersion":2', b'"schemaVersion":2 '))
    with pytest.raises(MalformedInputError, match="bytes, the descriptor says"):
        measure_oci_layout(layout.root)
    path.write_bytes(manifest[:-1] + b" ")  # same size, other bytes
    with pytest.raises(MalformedInputError) as info:
        measure_oci_layout(layout.root)
    assert info.value.reason is Reason.DIGEST_MISMATCH


def test_tampered_or_missing_layer_is_refused(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    descriptor, _ = layout.image(b"the real layer")
    layout.index([descriptor])
    layer = layout.root / "blobs" / "sha256" / hashlib.sha256(b"the real layer").hexdigest()
    layer.write_bytes(b"the evil layer")
    with pytest.raises(MalformedInputError) as info:
        measure_oci_layout(layout.root)
    assert info.value.reason is Reason.DIGEST_MISMATCH
    layer.unlink()
    with pytest.raises(MalformedInputError, match="does not exist"):
        measure_oci_layout(layout.root)


def test_symlinked_blob_is_refused(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "oci")
    descriptor, manifest = layout.image(b"layer")
    layout.index([descriptor])
    path = layout.root / "blobs" / "sha256" / descriptor["digest"].split(":")[1]
    (tmp_path / "elsewhere").write_bytes(manifest)
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(MalformedInputError, match="without following links"):
        measure_oci_layout(layout.root)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda root: (root / "oci-layout").write_text('{"imageLayoutVersion": "2.0.0"}'), "imageLayoutVersion"),
        (lambda root: (root / "index.json").unlink(), "index.json does not exist"),
        (lambda root: (root / "index.json").write_text("{not json"), "index.json"),
        (lambda root: (root / "index.json").write_text('{"schemaVersion": 2, "manifests": []}'), "no image manifest"),
        (
            lambda root: (root / "index.json").write_text(
                json.dumps(
                    {"schemaVersion": 2, "manifests": [{"mediaType": OCI_MANIFEST, "digest": "sha512:ab", "size": 1}]}
                )
            ),
            "sha256",
        ),
    ],
)
def test_malformed_layouts_are_refused(tmp_path: Path, edit: Any, message: str) -> None:
    layout = Layout(tmp_path / "oci")
    descriptor, _ = layout.image(b"layer")
    layout.index([descriptor])
    edit(layout.root)
    with pytest.raises(MalformedInputError, match=message):
        measure_oci_layout(layout.root)


def test_file_measure_is_the_artifact_digest(tmp_path: Path) -> None:
    path = tmp_path / "app.bin"
    path.write_bytes(b"\x7fELF build output" * 1000)
    measured = measure_file(path)
    assert measured.value == hashlib.sha256(path.read_bytes()).hexdigest() == read_artifact(path).digest
    link = tmp_path / "link"
    link.symlink_to(path)
    with pytest.raises(MalformedInputError, match="without following links"):
        measure_file(link)


def test_cli_ci_measure_each_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    made = make_sigstruct(new_key())
    sig = tmp_path / "enclave.sig"
    sig.write_bytes(made.data)
    assert main(["ci", "measure", "--sigstruct", str(sig), "--json"]) == 0
    value = json.loads(capsys.readouterr().out)
    assert (value["kind"], value["value"]) == ("sgx-mrenclave", made.mrenclave)
    assert value["details"]["mrsigner"] == made.mrsigner

    assert main(["ci", "measure", "--file", str(sig)]) == 0
    out = capsys.readouterr().out
    assert f"value: {hashlib.sha256(made.data).hexdigest()}" in out and "kind: file-sha256" in out

    layout = Layout(tmp_path / "oci")
    descriptor, manifest = layout.image(b"layer", **_platform("linux", "amd64"))
    other, _ = layout.image(b"other", **_platform("linux", "arm64"))
    layout.index([descriptor, other])
    assert main(["ci", "measure", "--oci-layout", str(layout.root), "--platform", "linux/amd64", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == hashlib.sha256(manifest).hexdigest()
    assert main(["ci", "measure", "--oci-layout", str(layout.root)]) == 3
    assert "pick one with --platform" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [[], ["--file", "a", "--sigstruct", "b"], ["--file", "a", "--platform", "linux/amd64"]],
)
def test_cli_ci_measure_needs_exactly_one_source(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ci", "measure", *args]) == 1
    assert capsys.readouterr().err.startswith("sealgate: invalid-argument: ")
