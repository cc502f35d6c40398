"""Two processes publishing at once: the fcntl lock serialises them, the loser is refused as stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sealgate.canonical import canonical_bytes
from sealgate.registry.client import refresh

from .conftest import Keys, Registry, pinned_client, sign_all

_WORKER = """
import sys, time
from pathlib import Path
from sealgate.crypto.keys import read_private_key_file
from sealgate.errors import SealgateError
from sealgate.registry.repository import OnlineKeys, Repository

repo, keydir, action, go = Repository(Path(sys.argv[1])), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
online = OnlineKeys(read_private_key_file(keydir / "snapshot.key", None),
                    read_private_key_file(keydir / "timestamp.key", None))
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
try:
    if action == "timestamp":
        for _ in range(5):
            repo.timestamp(online)
    else:
        repo.publish(Path(action), online)
    print("published")
except SealgateError as exc:
    print(f"refused {exc.reason.value}")
"""


def test_two_processes_publishing_at_once_leave_a_valid_repository(
    writer: Registry, writer_keys: Keys, tmp_path: Path
) -> None:
    keydir = tmp_path / "keys"
    keydir.mkdir()
    for name, key in (("snapshot", writer_keys.online.snapshot), ("timestamp", writer_keys.online.timestamp)):
        (keydir / f"{name}.key").write_bytes(key.to_pem(None, insecure_no_passphrase=True))
    proposals = []
    for number in range(3):
        proposal = writer.repo.propose_policy(canonical_bytes({"competing": number}))
        path = tmp_path / f"p{number}.json"
        sign_all(proposal, writer_keys.targets).save(path)
        proposals.append(path)
    go = tmp_path / "go"
    actions = [str(p) for p in proposals] + ["timestamp"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(writer.path), str(keydir), action, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for action in actions
    ]
    for proc in procs:  # everyone imported and loaded keys: now start together
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
    go.touch()
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        outcomes.append(out.decode().strip())
    # The three policy proposals share a base: exactly one wins, the others are stale.
    assert sorted(outcomes[:3]) == ["published", "refused registry-stale", "refused registry-stale"]
    assert outcomes[3] == "published"
    report = writer.repo.verify()
    winner = outcomes.index("published")
    assert writer.repo.policy() == canonical_bytes({"competing": winner})
    client = pinned_client(tmp_path, writer)
    assert refresh(client).timestamp_version == report.timestamp_version
