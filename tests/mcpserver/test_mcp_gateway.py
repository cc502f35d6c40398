"""The MCP server's parts in process: what is listed, the digest pins, and what importing costs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from sealgate._dataclass import replace
from sealgate.config import Home
from sealgate.errors import DeniedError, Reason
from sealgate.gate import GateRequest
from sealgate.mcp import build_catalog, input_schema, mcp_tool_name
from sealgate.mcp._server import McpGateway
from sealgate.tools import open_tool_gate, verify_tool
from sealgate.tools.manifest import ToolManifest, compile_manifest_yaml
from tests.gatehome import DAY, GateHome, make_tool
from tests.mcpserver.conftest import ECHO, TRUE, audit_records


def test_importing_the_command_or_the_package_does_not_load_the_sdk() -> None:
    code = (
        "import sys; import sealgate.cli._mcp, sealgate.mcp; assert 'mcp' not in sys.modules, 'sdk loaded'; "
        "import mcp; import pathlib; print(pathlib.Path(mcp.__file__).parent.parent.name)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr
    # `import mcp` is the SDK from site-packages, never sealgate's own `sealgate.mcp`.
    assert out.stdout.strip() == "site-packages"


def test_mcp_names_and_the_published_schema_are_exact() -> None:
    assert mcp_tool_name("acme/hello") == "acme.hello"
    manifest = ToolManifest.from_json_bytes(compile_manifest_yaml(ECHO.encode()))
    schema = input_schema(manifest)
    assert schema["additionalProperties"] is False and schema["required"] == ["text"]
    # The manifest's pattern matches whole values (re.fullmatch); JSON Schema's matches anywhere.
    assert schema["properties"]["text"]["pattern"] == "^(?:[a-z ]+)$"
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"text": "hello there"})
    for bad in ({"text": "hello; id"}, {"text": "hi", "skip_verification": True}, {"times": 1}):
        assert not validator.is_valid(bad)


def test_catalog_lists_the_newest_active_version_and_reports_the_rest(gh: GateHome) -> None:
    for version in ("1.2.0", "1.10.0"):
        gh.register_tool(make_tool(gh.root / "src", TRUE.replace("1.0.0", version)))
    catalog = build_catalog(gh.tool_gate())
    assert catalog.tools["acme.true"].version == "1.10.0"  # numerically newest, not "1.2.0"
    assert {"tool": "acme/true@1.2.0", "why": "a newer version is listed (1.10.0)"} in [
        n.to_json() for n in catalog.not_listed
    ]
    gh.publish(gh.repo.propose_deprecate("tool", "acme/true", "1.10.0"))
    gh.refresh()
    assert build_catalog(gh.tool_gate()).tools["acme.true"].version == "1.2.0"  # active before deprecated


def test_catalog_never_lists_a_changed_installed_copy(gh: GateHome) -> None:
    (gh.home.tools / "acme" / "cat" / "1.0.0" / "motto.txt").write_bytes(b"changed\n")
    catalog = build_catalog(gh.tool_gate())
    assert "acme.cat" not in catalog.tools
    reasons = {n.tool: n.why for n in catalog.not_listed}
    assert "digest differs" in reasons["acme/cat@1.0.0"]


def test_catalog_lists_nothing_when_the_registry_view_expired(gh: GateHome) -> None:
    catalog = build_catalog(gh.tool_gate(offset=400 * DAY))
    assert catalog.tools == {} and catalog.error is not None
    assert catalog.error.startswith(("metadata-expired", "registry-stale"))


def test_catalog_of_a_home_without_a_registry_says_why_it_is_empty(tmp_path: Path) -> None:
    gate = open_tool_gate(Home(tmp_path / "home"), environ={})
    try:
        catalog = build_catalog(gate)
    finally:
        gate.close()
    assert catalog.tools == {} and catalog.error is not None
    assert catalog.error.startswith("registry-unavailable: pin.json is missing")


def test_two_tools_sharing_an_mcp_name_are_both_left_out(gh: GateHome) -> None:
    gh.add_namespace("tools/acme.x")
    gh.register_tool(make_tool(gh.root / "src", TRUE.replace("acme/true", "acme/x.y")))
    gh.register_tool(make_tool(gh.root / "src", TRUE.replace("acme/true", "acme.x/y")))
    catalog = build_catalog(gh.tool_gate())
    assert "acme.x.y" not in catalog.tools
    reasons = {n.tool: n.why for n in catalog.not_listed}
    assert "shared by acme.x/y, acme/x.y" in reasons["acme/x.y@1.0.0"]
    assert "shared by acme.x/y, acme/x.y" in reasons["acme.x/y@1.0.0"]


@pytest.fixture
def gateway(gh: GateHome) -> McpGateway:
    return McpGateway(gh.home, environ={})


def test_gate_token_for_other_bytes_than_listed_is_refused(gh: GateHome, gateway: McpGateway) -> None:
    # The window between the session's own digest check and the gate's read is closed by the
    # pin: whatever the gate allows must be the listed digest, or nothing runs.
    try:
        with gateway.gate.pinned("0" * 64), pytest.raises(DeniedError) as info:
            verify_tool("acme/true@1.0.0", inputs={}, taint="llm_output", interface="mcp", gate=gateway.gate)
        assert info.value.reason is Reason.DEFINITION_CHANGED
        # Without the pin the same request is allowed: the refusal came from the pin alone.
        token = verify_tool("acme/true@1.0.0", inputs={}, taint="llm_output", interface="mcp", gate=gateway.gate)
    finally:
        gateway.close()
    records = audit_records(gh)
    assert [(r["decision"], r["reason"]) for r in records] == [
        ("allow", "allowed"),
        ("deny", "definition-changed"),
        ("allow", "allowed"),
    ]
    assert records[2]["subject"]["digest"]["sha256"] == token.digest


def test_registry_digest_other_than_listed_is_denied_definition_changed(gh: GateHome, gateway: McpGateway) -> None:
    listed = build_catalog(gateway.gate).tools["acme.true"]
    stale = replace(listed, digest="ab" * 32, registry_version=1)  # what an earlier listing promised
    request = GateRequest("tool", stale.name, stale.version, stale.path, "mcp", "llm_output")
    try:
        with pytest.raises(DeniedError) as info:
            gateway._check_unchanged(stale, request)
    finally:
        gateway.close()
    assert info.value.reason is Reason.DEFINITION_CHANGED
    assert f"in registry version {listed.registry_version}" in info.value.message
    assert audit_records(gh)[-1]["reason"] == "definition-changed"
