"""ci candidate: an entry document and an unsigned statement that maintainers sign and propose as they are."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sealgate.canonical import loads_strict
from sealgate.cli import main
from sealgate.crypto.bundle import StatementBundle
from sealgate.crypto.intoto import PREDICATE_TYPE as APPROVAL_PREDICATE_TYPE
from sealgate.enclaves.candidate import CANDIDATE_PREDICATE_TYPE, check_git_commit, make_candidate
from sealgate.enclaves.sigstruct import Sigstruct
from sealgate.errors import MalformedInputError, UsageError
from sealgate.registry.documents import EnclaveEntryDocument
from tests.cli.clihome import build_cli_home
from tests.enclaves.sigstruct_maker import FLAGS_DEBUG, FLAGS_MODE64BIT, Made, make_sigstruct, new_key

COMMIT = "0123456789abcdef0123456789abcdef01234567"
GIT = shutil.which("git")


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return new_key()


@pytest.fixture(scope="module")
def made(key: rsa.RSAPrivateKey) -> Made:
    return make_sigstruct(key, isv_prod_id=11, isv_svn=4)


@pytest.fixture
def sigfile(tmp_path: Path, made: Made) -> Path:
    path = tmp_path / "enclave.sig"
    path.write_bytes(made.data)
    return path


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _candidate_args(out: Path, *extra: str) -> list[str]:
    return ["ci", "candidate", "--name", "payments", "--version", "1.4.0", "--stage", "PROD",
            "--git-commit", COMMIT, "--out", str(out), *extra]  # fmt: skip


def test_candidate_from_sigstruct_writes_entry_and_unsigned_statement(
    tmp_path: Path, sigfile: Path, made: Made, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "candidate"
    args = _candidate_args(out, "--sigstruct", str(sigfile), "--build-timestamp", "2026-01-31T13:00:00+01:00",
                           "--builder-id", "https://ci.example/run/42", "--json")  # fmt: skip
    code, stdout, err = _cli(args, capsys)
    assert code == 0, err
    entry_bytes = (out / "entry.json").read_bytes()
    entry = EnclaveEntryDocument.from_bytes(entry_bytes)
    assert entry.to_bytes() == entry_bytes  # canonical, as the registry will publish it
    assert (entry.mrenclave, entry.mrsigner) == (made.mrenclave, made.mrsigner)
    assert (entry.isv_prod_id, entry.min_isv_svn) == (11, 4)
    assert (entry.version, entry.stage, entry.status, entry.git_commit) == ("1.4.0", "PROD", "active", COMMIT)
    assert entry.build_timestamp == "2026-01-31T12:00:00Z"
    assert entry.allowed_tcb_statuses == ("UpToDate",)

    statement = loads_strict((out / "statement.json").read_bytes(), what="statement")
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [
        {"name": "enclaves/payments/1.4.0", "digest": {"sha256": hashlib.sha256(entry_bytes).hexdigest()}}
    ]
    # Evidence for reviewers, never an approval: another predicate type, and no signature anywhere.
    assert statement["predicateType"] == CANDIDATE_PREDICATE_TYPE != APPROVAL_PREDICATE_TYPE
    assert "signatures" not in statement and "payload" not in statement
    predicate = statement["predicate"]
    assert predicate["measurement"]["mrenclave"] == made.mrenclave
    assert predicate["measurement"]["sigstruct_sha256"] == hashlib.sha256(made.data).hexdigest()
    assert (predicate["git_commit_checked"], predicate["builder_id"], predicate["pin"]) == (
        False, "https://ci.example/run/42", "both",
    )  # fmt: skip

    value = json.loads(stdout)
    assert value["target"] == "enclaves/payments/1.4.0"
    assert value["entry_sha256"] == hashlib.sha256(entry_bytes).hexdigest()
    assert "sealgate sign " in err and "sealgate registry propose " in err


@pytest.mark.parametrize(
    ("pin", "mrenclave", "mrsigner"), [("mrenclave", True, False), ("mrsigner", False, True), ("both", True, True)]
)
def test_pin_chooses_what_the_entry_pins(made: Made, pin: str, mrenclave: bool, mrsigner: bool) -> None:
    sig = Sigstruct.from_bytes(made.data)
    candidate = make_candidate(name="payments", version="1", stage="DEV", git_commit=COMMIT, sigstruct=sig, pin=pin)
    assert (candidate.entry.mrenclave is not None, candidate.entry.mrsigner is not None) == (mrenclave, mrsigner)
    assert candidate.entry.min_isv_svn == 4


def test_debug_enclave_is_never_a_candidate(
    tmp_path: Path, key: rsa.RSAPrivateKey, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "debug.sig"
    path.write_bytes(make_sigstruct(key, flags=FLAGS_MODE64BIT | FLAGS_DEBUG).data)
    for stage in ("DEV", "PROD"):
        args = _candidate_args(tmp_path / stage, "--sigstruct", str(path))
        args[args.index("--stage") + 1] = stage
        code, out, err = _cli(args, capsys)
        assert (code, out) == (3, "") and err.startswith("sealgate: debug-enclave: ")
        assert not (tmp_path / stage / "entry.json").exists()


def test_tampered_sigstruct_is_not_a_candidate(tmp_path: Path, made: Made, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.sig"
    path.write_bytes(made.data[:960] + bytes([made.data[960] ^ 1]) + made.data[961:])
    code, _, err = _cli(_candidate_args(tmp_path / "c", "--sigstruct", str(path)), capsys)
    assert code == 3 and err.startswith("sealgate: signature-invalid: ")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("commit", ["0123456", COMMIT + "0", "g" * 40, ""])
def test_git_commit_must_be_40_hex(made: Made, commit: str) -> None:
    with pytest.raises(MalformedInputError, match="40 hex"):
        make_candidate(name="payments", version="1", stage="DEV", git_commit=commit, mrenclave=made.mrenclave)


def test_identity_by_hand(made: Made) -> None:
    by_enclave = make_candidate(
        name="p", version="1", stage="TEST", git_commit=COMMIT.upper(), mrenclave=made.mrenclave.upper()
    )
    assert by_enclave.entry.mrenclave == made.mrenclave and by_enclave.entry.git_commit == COMMIT
    by_signer = make_candidate(
        name="p", version="1", stage="TEST", git_commit=COMMIT, mrsigner=made.mrsigner, isv_prod_id=11, min_isv_svn=4
    )
    assert (by_signer.entry.mrsigner, by_signer.entry.isv_prod_id, by_signer.entry.min_isv_svn) == (
        made.mrsigner,
        11,
        4,
    )
    with pytest.raises(UsageError, match="minimum ISV SVN"):
        make_candidate(name="p", version="1", stage="TEST", git_commit=COMMIT, mrsigner=made.mrsigner, isv_prod_id=11)
    with pytest.raises(UsageError):
        make_candidate(name="p", version="1", stage="TEST", git_commit=COMMIT)
    with pytest.raises(MalformedInputError, match="MRENCLAVE"):
        make_candidate(name="p", version="1", stage="TEST", git_commit=COMMIT, mrenclave="ab" * 31)
    with pytest.raises(UsageError, match="above this build"):
        make_candidate(
            name="p",
            version="1",
            stage="TEST",
            git_commit=COMMIT,
            sigstruct=Sigstruct.from_bytes(made.data),
            min_isv_svn=5,
        )
    with pytest.raises(UsageError, match="not both"):
        make_candidate(
            name="p", version="1", stage="TEST", git_commit=COMMIT, sigstruct=Sigstruct.from_bytes(made.data),
            mrenclave=made.mrenclave,
        )  # fmt: skip


def test_existing_candidate_files_are_not_overwritten(
    tmp_path: Path, sigfile: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "candidate"
    assert _cli(_candidate_args(out, "--sigstruct", str(sigfile)), capsys)[0] == 0
    before = (out / "entry.json").read_bytes()
    code, _, err = _cli(_candidate_args(out, "--mrenclave", "ab" * 32), capsys)
    assert code == 1 and "already exists" in err
    assert (out / "entry.json").read_bytes() == before


@pytest.mark.skipif(GIT is None, reason="needs git")
def test_commit_is_checked_in_the_repository(
    tmp_path: Path, sigfile: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert GIT is not None
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example"}  # fmt: skip
    subprocess.run([GIT, "init", "-q", str(repo)], check=True, env=env)
    (repo / "enclave.c").write_text("int main(void) { return 0; }\n", encoding="utf-8")
    subprocess.run([GIT, "-C", str(repo), "add", "enclave.c"], check=True, env=env)
    subprocess.run([GIT, "-C", str(repo), "commit", "-qm", "build"], check=True, env=env)
    head = subprocess.run([GIT, "-C", str(repo), "rev-parse", "HEAD"], check=True, env=env, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip
    tree = subprocess.run([GIT, "-C", str(repo), "rev-parse", "HEAD^{tree}"], check=True, env=env,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    check_git_commit(repo, head.upper())
    with pytest.raises(MalformedInputError, match="not a commit"):
        check_git_commit(repo, COMMIT)
    with pytest.raises(MalformedInputError, match="not a commit"):
        check_git_commit(repo, tree)  # an object that exists but is no commit
    not_repo = tmp_path / "not-a-repo"
    not_repo.mkdir()
    with pytest.raises(UsageError, match="not a git repository"):
        check_git_commit(not_repo, head)
    # A caller's GIT_DIR cannot point the check at another repository.
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))
    with pytest.raises(UsageError, match="not a git repository"):
        check_git_commit(not_repo, head)
    monkeypatch.delenv("GIT_DIR")

    args = _candidate_args(tmp_path / "ok", "--sigstruct", str(sigfile), "--repo", str(repo))
    args[args.index("--git-commit") + 1] = head
    code, _, err = _cli(args, capsys)
    assert code == 0, err
    statement = loads_strict((tmp_path / "ok" / "statement.json").read_bytes(), what="statement")
    assert statement["predicate"]["git_commit_checked"] is True
    code, _, err = _cli(_candidate_args(tmp_path / "missing", "--sigstruct", str(sigfile), "--repo", str(repo)), capsys)
    assert code == 3 and err.startswith("sealgate: malformed-input: ") and not (tmp_path / "missing").exists()


def test_maintainers_sign_and_propose_the_candidate_as_written(tmp_path: Path, sigfile: Path, made: Made) -> None:
    """The whole review path with the existing commands: candidate -> sign -> propose -> approve -> publish."""
    ch = build_cli_home(tmp_path / "base")
    namespace = ch.work / "ns.proposal.json"
    ch.run("registry", "namespace", "enclaves/payments", "--key", "carol", "--key", "dave", "--threshold", "2",
           "--bits", "1", "--out", str(namespace))  # fmt: skip
    ch.approve_and_publish(namespace)
    out = tmp_path / "candidate"
    ch.run(*_candidate_args(out, "--sigstruct", str(sigfile)))
    entry = out / "entry.json"
    statement = loads_strict((out / "statement.json").read_bytes(), what="statement")
    names = ("--kind", "enclave", "--name", "payments", "--version", "1.4.0")
    for who in ("carol", "dave"):
        ch.run("sign", str(entry), *names, "--role", "approver", "--key", who)
    bundle = StatementBundle.read(out / "entry.json.statements.json")
    subject = statement["subject"][0]
    assert (bundle.target, bundle.sha256) == (subject["name"], subject["digest"]["sha256"])
    assert len(bundle.envelopes) == 2
    proposal = ch.work / "payments.proposal.json"
    ch.run("registry", "propose", str(entry), *names, "--stage", "PROD", "--git-commit", COMMIT, "--out", str(proposal))
    ch.approve_and_publish(proposal)
    shown = json.loads(ch.run("registry", "show", "enclave", "payments", "1.4.0", "--json"))
    assert shown["document"]["sgx"]["mrenclave"] == made.mrenclave
    assert shown["document"]["sgx"]["mrsigner"] == made.mrsigner
