"""`sealgate verify` as a whole process, and in-process gate decisions, against baselines.

Figures (issue 2, "Speed"):
- `sealgate verify` of a 1 MiB artifact with two statements, registry of 1,000 entries:
  median <= 90 ms and <= 2x a bare baseline process measured in the same run (a fresh
  Python that hashes the file, verifies two Ed25519 signatures and inserts one SQLite row).
- The same with 100,000 entries in namespace bins of <= 512 entries: median <= 120 ms.
- In-process gate decisions on a 64 KiB artifact: >= 2,000/s with group commit (4 threads),
  and >= 1,000/s with one durable commit per decision.

Run: `.venv/bin/python benchmarks/bench_verify.py [--quick] [--runs N] [--skip-large]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import median_process_ms, report

from sealgate.config import Home
from sealgate.crypto.intoto import make_approval
from sealgate.crypto.keys import PrivateKey, generate_key
from sealgate.gate import Gate, GateRequest
from sealgate.policy import compile_policy_yaml
from sealgate.registry.client import pin_root, refresh
from sealgate.registry.layout import target_path
from sealgate.registry.repository import Expiries, OnlineKeys, Repository, init_repository

# The figures are about the gate itself, so the artifacts are modules: single files with no
# kind check. (`sealgate verify --kind tool` also runs the tool check, which needs a tool
# directory with a manifest; bench_run.py measures that path.)
KIND = "module"
NAMESPACE = "modules/acme"

BASELINE = r"""
import hashlib, sqlite3, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
path, db, pk1, pk2, s1, s2 = sys.argv[1:7]
with open(path, "rb") as fh:
    digest = hashlib.sha256(fh.read()).digest()
for pk, sig in ((pk1, s1), (pk2, s2)):
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(pk)).verify(bytes.fromhex(sig), digest)
con = sqlite3.connect(db)
con.execute("pragma journal_mode=wal")
con.execute("pragma synchronous=full")
con.execute("create table if not exists t (b blob)")
with con:
    con.execute("insert into t values (?)", (digest,))
"""


def _pem(key: PrivateKey) -> str:
    return "\n".join("        " + line for line in key.public.to_pem().decode().strip().splitlines())


def build_home(root: Path, entries: int, bits: int) -> tuple[Path, dict[str, str]]:
    """A home whose registry holds ``entries`` tool versions; returns the 1 MiB artifact and its request."""
    keys = {n: generate_key("ed25519") for n in ("root", "targets", "ns", "alice", "bob")}
    online = OnlineKeys(generate_key("ed25519"), generate_key("ed25519"))
    policy = f"""_type: sealgate/trust-policy/v1
environment: development
principals:
  alice:
    keys:
      - |
{_pem(keys["alice"])}
  bob:
    keys:
      - |
{_pem(keys["bob"])}
bindings:
  - {{principal: alice, roles: [author], namespaces: ["{NAMESPACE}"]}}
  - {{principal: bob, roles: [reviewer], namespaces: ["{NAMESPACE}"]}}
levels: {{default: standard}}
requirements:
  standard: {{roles: {{author: 1, reviewer: 1}}, allow_deprecated: true, deny_from: high}}
  strict: {{roles: {{author: 1, reviewer: 1, approver: 2}}, allow_deprecated: false, deny_from: medium}}
max_staleness: 86400
""".encode()
    init_repository(
        root / "repository", root_keys=[keys["root"]], root_threshold=1, targets_keys=[keys["targets"]],
        targets_threshold=1, online_keys=online, policy=compile_policy_yaml(policy), expiries=Expiries(),
    )  # fmt: skip
    repo = Repository.at_home(root)

    def publish(proposal: object) -> None:
        for key in (keys["targets"], keys["ns"]):
            if proposal.roles_for_key(key.keyid):  # type: ignore[attr-defined]
                proposal.sign(key)  # type: ignore[attr-defined]
        repo.publish(proposal, online)  # type: ignore[arg-type]

    publish(repo.propose_add_namespace(NAMESPACE, [keys["ns"].public], 1, bits))
    artifact = root / "artifact.bin"
    data = os.urandom(1 << 20)
    artifact.write_bytes(data)
    builder = repo.builder()
    names = max(1, entries // 100)  # 100 versions per name keeps the per-name index realistic
    for i in range(entries):
        name, version = f"acme/tool{i % names}", f"1.{i // names}.0"
        blob = data if i == 0 else f"filler {i}".encode()
        digest = hashlib.sha256(blob).hexdigest()
        target = target_path(KIND, name, version)
        statements = [
            make_approval(target, digest, "author", keys["alice"]).to_dict(),
            make_approval(target, digest, "reviewer", keys["bob"]).to_dict(),
        ]
        builder.add_entry(kind=KIND, name=name, version=version, digest=digest, size=len(blob), stage="DEV",
                          statements=statements)  # fmt: skip
    small = os.urandom(64 << 10)
    (root / "small.bin").write_bytes(small)
    target = target_path(KIND, "acme/small", "1.0.0")
    digest = hashlib.sha256(small).hexdigest()
    builder.add_entry(kind=KIND, name="acme/small", version="1.0.0", digest=digest, size=len(small), stage="DEV",
                      statements=[make_approval(target, digest, "author", keys["alice"]).to_dict(),
                                  make_approval(target, digest, "reviewer", keys["bob"]).to_dict()])  # fmt: skip
    publish(builder.build())
    root_bytes = (root / "repository" / "metadata" / "1.root.json").read_bytes()
    pin_root(root, root_bytes, hashlib.sha256(root_bytes).hexdigest(), str(root / "repository"))
    refresh(root)
    sigs = {
        "pk1": keys["alice"].public.raw_ed25519.hex(),
        "pk2": keys["bob"].public.raw_ed25519.hex(),
        "s1": keys["alice"].sign(hashlib.sha256(data).digest()).hex(),
        "s2": keys["bob"].sign(hashlib.sha256(data).digest()).hex(),
    }
    return artifact, {"name": f"acme/tool{0}", "version": "1.0.0", **sigs}


def process_figures(root: Path, artifact: Path, info: dict[str, str], runs: int, label: str, target_ms: float) -> None:
    sealgate = str(Path(sys.executable).with_name("sealgate"))
    env = {"SEALGATE_HOME": str(root)}
    argv = [sealgate, "verify", str(artifact), "--kind", KIND, "--name", info["name"], "--version", info["version"]]
    base_argv = [sys.executable, "-c", BASELINE, str(artifact), str(root / "baseline.db"),
                 info["pk1"], info["pk2"], info["s1"], info["s2"]]  # fmt: skip
    # Interleave the two so machine noise hits both alike.
    base_ms, verify_ms = [], []
    for _ in range(3):
        base_ms.append(median_process_ms(base_argv, runs=max(3, runs // 3)))
        verify_ms.append(median_process_ms(argv, runs=max(3, runs // 3), env=env))
    base, value = sorted(base_ms)[1], sorted(verify_ms)[1]
    report(f"baseline process (hash 1 MiB, 2 Ed25519 verifies, 1 SQLite row), {label}", base, "ms")
    report(f"sealgate verify process, {label}", value, "ms", baseline=base,
           target=f"<= {target_ms:.0f} ms and <= 2.00x baseline")  # fmt: skip


def in_process_figures(root: Path, seconds: float) -> None:
    request = GateRequest(kind=KIND, name="acme/small", version="1.0.0", path=root / "small.bin", interface="api")

    gate = Gate(Home(root), environ={})
    gate.verify(request)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        gate.verify(request)
        n += 1
    durable_rate = n / (time.perf_counter() - t0)
    gate.close()

    threads, counts = 4, [0] * 4
    stop = time.perf_counter() + seconds
    shared = Gate(Home(root), environ={})
    shared.verify(request)

    def worker(i: int) -> None:
        while time.perf_counter() < stop:
            shared.verify(request)
            counts[i] += 1

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    group_rate = sum(counts) / (time.perf_counter() - t0)
    shared.close()
    report("in-process gate decisions, 64 KiB artifact, one durable commit each", durable_rate, "/s",
           target=">= 1000/s")  # fmt: skip
    report("in-process gate decisions, 64 KiB artifact, 4 threads, group commit", group_rate, "/s",
           baseline=durable_rate, target=">= 2000/s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    runs = 9 if args.quick else args.runs
    base = Path(tempfile.mkdtemp(prefix="sealgate-bench-verify-"))
    try:
        small = base / "small"
        artifact, info = build_home(small, 1_000, 4)
        process_figures(small, artifact, info, runs, "1,000 entries", 90)
        in_process_figures(small, 1.0 if args.quick else 3.0)
        if not (args.quick or args.skip_large):
            large = base / "large"
            artifact, info = build_home(large, 100_000, 8)
            process_figures(large, artifact, info, runs, "100,000 entries (256 bins)", 120)
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
