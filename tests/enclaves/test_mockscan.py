"""ci check-mock: a mock-attestation flag planted in a PROD build is found, in every form, and fails it."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from sealgate.cli import main
from sealgate.enclaves.mockscan import (
    MockScanReport,
    is_mock_name,
    mock_setting,
    require_no_mock,
    scan_for_mock,
)
from sealgate.errors import MalformedInputError, Reason, UsageError, VerificationError

GCC = shutil.which("gcc")

CLEAN_FILES = {
    "app/__init__.py": "",
    "app/main.py": (
        "import os\n"
        "from unittest import mock  # a test helper module, nothing to do with attestation\n"
        "\n"
        'SGX_MODE = os.environ.get("SGX_MODE", "HW")\n'
        'ATTESTATION_MODE = "dcap"\n'
        "DEBUG = False\n"
        "\n"
        'def quote_provider(kind: str = "dcap") -> str:\n'
        "    return kind\n"
        "\n"
        'if os.getenv("ATTESTATION_MODE", "dcap") == "dcap":\n'
        "    pass\n"
    ),
    "config/app.yaml": (
        "attestation:\n  mode: dcap\n  collateral: /var/lib/app/collateral.json\n"
        "  # mock_attestation: true   (development only; a comment is not a setting)\n"
        "  mock_attestation: false\nlog_level: info\n"
    ),
    "config/prod.json": '{"enclave": {"debug": false}, "quote_provider": "dcap", "simple": true}\n',
    "config/app.toml": '[attestation]\nprovider = "dcap"\n',
    "config/app.ini": "[sgx]\nmode = hw\n",
    ".env": "SGX_MODE=HW\nLOG_LEVEL=info\nSGX_MOCK=0\n",
    "Dockerfile": 'FROM debian:12\nENV SGX_MODE=HW\nCMD ["/app/bin/host"]\n',
    "README.md": "This service proves itself with DCAP quotes; see docs/attestation.md.\n",
}

# (relative path, content, rule expected): each a way to leave mock attestation in a build.
PLANTS = [
    ("app/flags.py", 'import os\nSGX_MOCK = os.getenv("SGX_MOCK", "1")\n', "python-env-default"),
    ("app/mode.py", 'import os\nMODE = os.environ.get("ATTESTATION_MODE", "mock")\n', "python-env-default"),
    ("app/switch.py", 'import os\nif os.environ.get("SGX_MOCK"):\n    pass\n', "python-env-switch"),
    ("app/settings.py", 'ATTESTATION_MODE = "mock"\n', "python-setting"),
    ("app/provider.py", "from sealgate.enclaves.mock import MockQuoteProvider\n", "python-import"),
    ("app/provider2.py", "from sealgate.enclaves import mock\n", "python-import"),
    ("app/server.py", "def start(mock_attestation=True):\n    return 1\n", "python-setting"),
    ("app/wire.py", 'provider = make(quote_provider="fake")\n', "python-setting"),
    ("app/conf.py", 'CONFIG = {"attestation": {"mock_quotes": "yes"}}\n', "python-setting"),
    ("app/cmp.py", "def f(settings):\n    return settings.attestation_mode == 'simulated'\n", "python-mock-switch"),
    ("app/dyn.py", 'import importlib\nimportlib.import_module("sealgate.enclaves.mock")\n', "python-string"),
    ("app/use.py", "p = MockQuoteProvider()\n", "python-name"),
    ("config/app.yaml", "attestation:\n  mode: mock\n", "config-setting"),
    ("config/prod.json", '{"enclave": {"mock_attestation": true}}\n', "config-setting"),
    ("config/app.toml", '[attestation]\nprovider = "fake"\n', "config-setting"),
    ("config/app.ini", "[sgx]\nmode = sim\n", "config-setting"),
    (".env", "SGX_MODE=SIM\n", "config-line"),
    ("Dockerfile", "FROM debian:12\nENV SGX_MOCK=1\n", "text-setting"),
    ("run.sh", "#!/bin/sh\nexec /app/bin/host --attestation=mock\n", "text-setting"),
]


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def compile_c(source: str, out: Path, *flags: str) -> Path:
    assert GCC is not None
    src = out.with_suffix(".c")
    src.write_text(source, encoding="utf-8")
    subprocess.run([GCC, "-O0", *flags, "-o", str(out), str(src)], check=True, capture_output=True)
    src.unlink()
    return out


def clean_build(root: Path) -> Path:
    write_tree(root, CLEAN_FILES)
    if GCC is not None:
        (root / "bin").mkdir(exist_ok=True)
        compile_c('#include <stdio.h>\nint main(void) { puts("hello from the enclave host"); return 0; }\n',
                  root / "bin" / "host")  # fmt: skip
    return root


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# -- the words ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["MockQuoteProvider", "SGX_MOCK", "mock_attestation", "sealgate.enclaves.mock", "fakeQuote", "libsgx_urts_sim.so",
     "AttestationMock", "use_simulated_enclave", "TEE_FAKE"],
)  # fmt: skip
def test_mock_names_are_recognised(name: str) -> None:
    assert is_mock_name(name)


@pytest.mark.parametrize(
    "name", ["unittest.mock", "MagicMock", "quote_provider", "simple_quote", "SGX_MODE", "attestation", "mockingbird"]
)
def test_ordinary_names_are_not_mock_names(name: str) -> None:
    assert not is_mock_name(name)


@pytest.mark.parametrize(
    ("key", "value", "hit"),
    [
        ("mock_attestation", True, True),
        ("mock_attestation", "auto", True),  # fail closed: anything but a clear "off"
        ("mock_attestation", "false", False),
        ("SGX_MOCK", "0", False),
        ("SGX_MOCK", None, False),
        ("attestation", "mock", True),
        ("SGX_MODE", "SIM", True),
        ("SGX_MODE", "HW", False),
        ("quote_provider", "MockQuoteProvider", True),
        ("provider", "sealgate.enclaves.mock", True),
        ("log_level", "mock", False),
    ],
)
def test_mock_settings(key: str, value: object, hit: bool) -> None:
    assert (mock_setting(key, value) is not None) is hit


# -- the must-hold: a planted flag in a PROD build ----------------------------------------------


def test_clean_prod_build_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build = clean_build(tmp_path / "build")
    report = scan_for_mock([build])
    assert report.hits == () and report.problems == ()
    assert report.files_scanned == len(CLEAN_FILES) + (GCC is not None)
    require_no_mock(report, "PROD")
    code, _, err = _cli(["ci", "check-mock", "--stage", "PROD", str(build)], capsys)
    assert code == 0, err


@pytest.mark.parametrize(("rel", "content", "rule"), PLANTS, ids=[p[0] + ":" + p[2] for p in PLANTS])
def test_planted_mock_in_prod_build_fails_check_mock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rel: str, content: str, rule: str
) -> None:
    build = clean_build(tmp_path / "build")
    write_tree(build, {rel: content})
    report = scan_for_mock([build])
    assert [(Path(h.path).relative_to(build).as_posix(), h.rule) for h in report.hits] == [(rel, rule)]
    hit = report.hits[0]
    assert hit.line is not None and hit.excerpt and hit.excerpt in content
    with pytest.raises(VerificationError) as info:
        require_no_mock(report, "PROD")
    assert info.value.reason is Reason.MOCK_ATTESTATION_FOUND
    code, out, err = _cli(["ci", "check-mock", "--stage", "PROD", str(build)], capsys)
    assert (code, out) == (3, "")
    assert f"{build / rel}:{hit.line}: {rule}: " in err
    assert err.rstrip().splitlines()[-1].startswith("sealgate: mock-attestation-found: 1 mock-attestation hit(s)")


@pytest.mark.skipif(GCC is None, reason="needs gcc to build a real binary")
def test_planted_mock_in_compiled_binary_is_found(tmp_path: Path) -> None:
    build = clean_build(tmp_path / "build")
    source = (
        "#include <stdio.h>\n"
        "__attribute__((used)) int mock_attestation_enabled = 1;\n"
        'static const char *provider = "MockQuoteProvider";\n'
        "int main(void) { puts(provider); return mock_attestation_enabled; }\n"
    )
    compile_c(source, build / "bin" / "host")
    compile_c('#include <stdio.h>\nint main(void) { puts("SGX_MODE=SIM"); return 0; }\n', build / "bin" / "strip", "-s")
    report = scan_for_mock([build])
    found = {(Path(h.path).name, h.rule, h.excerpt) for h in report.hits}
    assert ("host", "elf-symbol", "mock_attestation_enabled") in found
    assert ("host", "binary-string", "MockQuoteProvider") in found
    assert ("strip", "binary-string", "SGX_MODE=SIM") in found  # a stripped binary keeps its strings
    assert all(h.offset is not None and h.line is None for h in report.hits)
    for hit in report.hits:
        assert hit.offset is not None
        data = Path(hit.path).read_bytes()
        assert data[hit.offset : hit.offset + len(hit.excerpt)] == hit.excerpt.encode()


def _elf64_with_symbols(names: list[str]) -> bytes:
    """A minimal little-endian ELF64 with .symtab, .strtab and .shstrtab, built by hand."""
    strtab = b"\x00" + b"".join(n.encode() + b"\x00" for n in names)
    symtab = bytes(24)  # the null symbol
    offset = 1
    for name in names:
        symtab += struct.pack("<IBBHQQ", offset, 0x11, 0, 1, 0, 0)
        offset += len(name) + 1
    shstrtab = b"\x00.symtab\x00.strtab\x00.shstrtab\x00"
    body_offset = 64
    layout = [strtab, symtab, shstrtab]
    offsets = []
    cursor = body_offset
    for blob in layout:
        offsets.append(cursor)
        cursor += len(blob)
    shoff = cursor
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 4, 3)
    sections = bytes(64)
    sections += struct.pack("<IIQQQQIIQQ", 9, 3, 0, 0, offsets[0], len(strtab), 0, 0, 1, 0)  # .strtab
    sections += struct.pack("<IIQQQQIIQQ", 1, 2, 0, 0, offsets[1], len(symtab), 1, 1, 8, 24)  # .symtab -> 1
    sections += struct.pack("<IIQQQQIIQQ", 17, 3, 0, 0, offsets[2], len(shstrtab), 0, 0, 1, 0)  # .shstrtab
    return header + strtab + symtab + shstrtab + sections


def test_elf_symbol_tables_are_read_without_gcc(tmp_path: Path) -> None:
    path = tmp_path / "build" / "libenclave.so"
    path.parent.mkdir()
    path.write_bytes(_elf64_with_symbols(["main", "sgx_fake_quote", "printf"]))
    report = scan_for_mock([path.parent])
    assert [(h.rule, h.excerpt, h.message) for h in report.hits] == [
        ("elf-symbol", "sgx_fake_quote", ".strtab: sgx_fake_quote names a mock")
    ]


def test_every_hit_of_a_tree_is_reported(tmp_path: Path) -> None:
    build = clean_build(tmp_path / "build")
    plants = {rel: content for rel, content, _ in PLANTS if rel not in CLEAN_FILES}
    write_tree(build, plants)
    report = scan_for_mock([build])
    reported = {Path(h.path).relative_to(build).as_posix() for h in report.hits}
    assert reported == set(plants)


# -- stages and verdicts --------------------------------------------------------------------------


@pytest.mark.parametrize(("stage", "code"), [("DEV", 0), ("TEST", 0), ("STAGE", 3), ("PROD", 3)])
def test_only_stage_and_prod_fail_on_hits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stage: str, code: int
) -> None:
    build = write_tree(tmp_path / "build", {"app/settings.py": 'ATTESTATION_MODE = "mock"\n'})
    got, out, err = _cli(["ci", "check-mock", "--stage", stage, str(build), "--json"], capsys)
    assert got == code, err
    value = json.loads(out)
    assert value["stage"] == stage and value["fatal"] is (code == 3)
    assert [(h["rule"], h["line"]) for h in value["hits"]] == [("python-setting", 1)]
    assert "app/settings.py:1: python-setting" in err


def test_unparseable_file_is_never_a_silent_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build = write_tree(
        tmp_path / "build",
        {"app/broken.py": "def f(:\n    SGX_MOCK = 1\n", "config/bad.yaml": "a: [unclosed\n", "ok.txt": "fine\n"},
    )
    report = scan_for_mock([build])
    assert sorted(Path(p.path).name for p in report.problems) == ["bad.yaml", "broken.py"]
    # The broken Python file is still read line by line.
    assert [h.rule for h in report.hits] == ["text-setting"]
    # DEV only reports hits, but an incomplete scan still fails; in PROD the hit is the verdict.
    for stage, reason in (("DEV", "malformed-input: 2 path(s) could not be scanned"), ("PROD", "mock-attestation")):
        code, _, err = _cli(["ci", "check-mock", "--stage", stage, str(build)], capsys)
        assert code == 3 and f"sealgate: {reason}" in err
    with pytest.raises(MalformedInputError):
        require_no_mock(MockScanReport(hits=(), problems=report.problems), "DEV")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_an_error_not_a_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build = write_tree(tmp_path / "build", {"ok.py": "x = 1\n", "secret.py": "x = 2\n"})
    (build / "secret.py").chmod(0)
    code, _, err = _cli(["ci", "check-mock", "--stage", "PROD", str(build)], capsys)
    assert code == 3 and "secret.py: cannot be opened" in err and "Traceback" not in err
    assert "sealgate: malformed-input: 1 path(s) could not be scanned" in err


def test_links_out_of_the_build_are_listed_not_followed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outside = write_tree(tmp_path / "outside", {"mock.py": "from sealgate.enclaves.mock import MockQuoteProvider\n"})
    build = clean_build(tmp_path / "build")
    (build / "app" / "vendored.py").symlink_to(outside / "mock.py")
    (build / "app" / "inside.py").symlink_to(build / "app" / "main.py")
    (build / "dangling").symlink_to(tmp_path / "nowhere")
    report = scan_for_mock([build])
    assert report.hits == ()
    assert sorted(Path(p.path).name for p in report.not_followed) == ["dangling", "vendored.py"]
    code, out, err = _cli(["ci", "check-mock", "--stage", "PROD", str(build), "--json"], capsys)
    assert code == 0
    assert "not followed: " in err and len(json.loads(out)["not_followed"]) == 2


def test_user_patterns_extend_the_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build = clean_build(tmp_path / "build")
    write_tree(build, {"app/extra.py": "ALLOW_UNVERIFIED_QUOTES = True\n"})
    assert scan_for_mock([build]).hits == ()
    patterns = tmp_path / "patterns.txt"
    patterns.write_text("# ours\n\nALLOW_UNVERIFIED_\\w+\n", encoding="utf-8")
    code, _, err = _cli(["ci", "check-mock", "--stage", "PROD", "--patterns-file", str(patterns), str(build)], capsys)
    assert code == 3 and "app/extra.py:1: user-pattern: matches 'ALLOW_UNVERIFIED_\\\\w+'" in err
    if GCC is not None:
        code, _, err = _cli(["ci", "check-mock", "--stage", "PROD", "--pattern", "hello from", str(build)], capsys)
        assert code == 3 and "bin/host@0x" in err and "user-pattern" in err
    code, _, err = _cli(["ci", "check-mock", "--stage", "PROD", "--pattern", "(", str(build)], capsys)
    assert code == 1 and err.startswith("sealgate: invalid-argument: pattern '('")


def test_excluded_paths_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build = clean_build(tmp_path / "build")
    write_tree(build, {"docs/guide.md": "Set `mock_attestation: true` only in development.\n"})
    assert len(scan_for_mock([build]).hits) == 1
    report = scan_for_mock([build], excludes=["docs/*"])
    assert report.hits == () and report.excluded == (str(build / "docs" / "guide.md"),)
    code, _, err = _cli(["ci", "check-mock", "--stage", "PROD", "--exclude", "docs", str(build)], capsys)
    assert code == 0 and f"excluded: {build / 'docs'}" in err


def test_nothing_to_scan_and_missing_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError):
        scan_for_mock([])
    code, _, err = _cli(["ci", "check-mock", "--stage", "PROD", str(tmp_path / "missing")], capsys)
    assert code == 3 and "cannot be examined" in err


def test_check_mock_process_exit_code_and_no_traceback(tmp_path: Path) -> None:
    build = write_tree(tmp_path / "build", {"app/flags.py": 'import os\nSGX_MOCK = os.getenv("SGX_MOCK", "1")\n'})
    script = Path(sys.executable).with_name("sealgate")
    result = subprocess.run(
        [str(script), "ci", "check-mock", "--stage", "PROD", str(build)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert "sealgate: mock-attestation-found: " in result.stderr


def test_yaml_with_custom_tags_is_read_with_exact_lines(tmp_path: Path) -> None:
    # CloudFormation-style tags are not constructed, only composed: the file parses, lines are exact.
    build = write_tree(
        tmp_path / "build",
        {
            "deploy/stack.yaml": (
                "Resources:\n"
                "  Enclave:\n"
                "    Properties:\n"
                "      Image: !Ref ImageDigest\n"
                "      mock_attestation: ~\n"
                "      attestation: !Sub '${Mode}-mock'\n"
            ),
            "deploy/tabs.json": '{\n\t"enclave": {\n\t\t"mock_attestation": "1"\n\t}\n}\n',
        },
    )
    report = scan_for_mock([build])
    assert report.problems == ()
    assert [(Path(h.path).name, h.rule, h.line) for h in report.hits] == [
        ("stack.yaml", "config-setting", 6),
        ("tabs.json", "config-setting", 3),
    ]


def test_overlapping_paths_report_a_hit_once(tmp_path: Path) -> None:
    build = write_tree(tmp_path / "build", {"app/settings.py": 'ATTESTATION_MODE = "mock"\n'})
    report = scan_for_mock([build, build / "app", build / "app" / "settings.py"])
    assert len(report.hits) == 1 and report.files_scanned == 1
