"""The gate's hot path never loads a YAML parser or JSON Schema: parsing the published JSON needs neither."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .helpers import encode, policy_doc

SCRIPT = """
import json, sys
import sealgate.policy as policy
data = open(sys.argv[1], "rb").read()
p = policy.TrustPolicy.from_json_bytes(data)
local = policy.LocalPolicy.from_json_bytes(b'{"_type":"sealgate/local-policy/v1","max_staleness":60}')
policy.tighten(p, local).level_for("tool", "tools/acme", "PROD")
heavy = ("yaml", "_yaml", "jsonschema", "referencing", "pydantic", "tuf", "sqlalchemy")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def test_parsing_published_policy_imports_no_yaml_or_jsonschema(tmp_path: Path) -> None:
    path = tmp_path / "trust-policy.json"
    path.write_bytes(encode(policy_doc()))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == []


def test_compilers_are_reachable_from_the_package_lazily() -> None:
    import sealgate.policy as policy

    assert callable(policy.compile_policy_yaml)
    assert callable(policy.compile_local_policy_yaml)
