"""MCP over one stdio session: `sealgate mcp` calling a tool that runs `/bin/true`, against a trivial SDK server.

Figures (issue 3, "Speed"): >= 60 calls/s with one call in flight, >= 100 calls/s with four
in flight, p99 <= 40 ms. One run measures, over one SDK `ClientSession` on stdio each:

- baseline: the same low-level SDK `Server` with a handler that returns a constant text
  (this script started with `--serve-baseline`), so the protocol's own cost is visible;
- `sealgate mcp` on a fresh home with `acme/true` (`command: ["/bin/true"]`) registered and
  installed: every call is listed-check, schema, digest pins, the gate's whole decision
  (audited), bwrap with seccomp, and the outcome record;
- for reference, `run_tool` of the same tool in this process (no MCP), one at a time,
  before and after the MCP figures (the machine's load drifts during a run).

Each figure is the number of calls divided by the wall time of the timed calls, after a
warm-up; latency percentiles are per call as the client sees it.

Run: `.venv/bin/python benchmarks/bench_mcp.py [--calls N] [--warmup N]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.gatehome

SEALGATE = Path(sys.executable).with_name("sealgate")
TRUE_TOOL = """
name: acme/true
version: 1.0.0
description: Do nothing, successfully.
command: ["/bin/true"]
"""


def serve_baseline() -> None:
    """The baseline server: the SDK's low-level Server over stdio, one tool, a constant answer."""
    import anyio
    from mcp import types
    from mcp.server import Server, ServerRequestContext
    from mcp.server.stdio import stdio_server

    tool = types.Tool(name="acme.true", input_schema={"type": "object", "properties": {}})
    answer = types.CallToolResult(content=[types.TextContent(type="text", text="")], is_error=False)

    async def list_tools(ctx: ServerRequestContext[Any, Any], params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[tool])

    async def call_tool(ctx: ServerRequestContext[Any, Any], params: Any) -> types.CallToolResult:
        return answer

    server: Server[Any] = Server("baseline", on_list_tools=list_tools, on_call_tool=call_tool)

    async def run() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(run)


class Figures:
    def __init__(self, calls: int, seconds: float, latencies: list[float]) -> None:
        self.rate = calls / seconds
        ordered = sorted(latencies)
        self.p50 = statistics.median(ordered) * 1000
        self.p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000


async def measure(call: Callable[[], Awaitable[None]], *, calls: int, warmup: int, in_flight: int) -> Figures:
    import anyio

    for _ in range(warmup):
        await call()
    latencies: list[float] = []
    remaining = [calls]

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            t0 = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for _ in range(in_flight):
            group.start_soon(worker)
    return Figures(calls, time.perf_counter() - start, latencies)


async def over_stdio(command: str, args: list[str], *, calls: int, warmup: int) -> dict[int, Figures]:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    env = {k: v for k, v in os.environ.items() if not k.startswith("SEALGATE_")}
    params = StdioServerParameters(command=command, args=args, env=env)
    out: dict[int, Figures] = {}
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        names = {t.name for t in (await session.list_tools()).tools}
        if "acme.true" not in names:
            raise SystemExit(f"acme.true is not listed by {command} {args}: {sorted(names)}")

        async def call() -> None:
            result = await session.call_tool("acme.true", {})
            if result.is_error:
                raise SystemExit(f"the call failed: {result.content}")

        for in_flight in (1, 4):
            out[in_flight] = await measure(call, calls=calls, warmup=warmup, in_flight=in_flight)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--serve-baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline()
        return

    import anyio
    from _harness import report
    from tests.gatehome import build_gate_home, make_tool

    from sealgate.tools import open_tool_gate, run_tool

    with tempfile.TemporaryDirectory(prefix="sealgate-bench-mcp-") as tmp:
        gh = build_gate_home(Path(tmp) / "home")
        gh.register_tool(make_tool(Path(tmp) / "src", TRUE_TOOL))

        gate = open_tool_gate(gh.home, environ={})

        def direct() -> float:
            # The same call without MCP, in this process, one at a time: measured before and
            # after the MCP figures, because the machine's load drifts during the run.
            for _ in range(args.warmup):
                run_tool("acme/true@1.0.0", inputs={}, taint="llm_output", interface="mcp", gate=gate)
            runs = max(50, args.calls // 4)
            t0 = time.perf_counter()
            for _ in range(runs):
                run_tool("acme/true@1.0.0", inputs={}, taint="llm_output", interface="mcp", gate=gate)
            return runs / (time.perf_counter() - t0)

        try:
            direct_before = direct()
            base = anyio.run(
                lambda: over_stdio(
                    sys.executable, [str(Path(__file__).resolve()), "--serve-baseline"], calls=args.calls,
                    warmup=args.warmup,
                )
            )  # fmt: skip
            ours = anyio.run(
                lambda: over_stdio(str(SEALGATE), ["--home", str(gh.root), "mcp"], calls=args.calls, warmup=args.warmup)
            )
            direct_after = direct()
        finally:
            gate.close()

    print(f"{args.calls} timed calls after {args.warmup} warm-up per figure, {os.cpu_count()} CPUs", flush=True)
    for in_flight, target in ((1, ">= 60 calls/s"), (4, ">= 100 calls/s")):
        b, o = base[in_flight], ours[in_flight]
        print(f"-- {in_flight} call(s) in flight")
        report("baseline SDK server, constant answer", b.rate, "calls/s")
        print(f"  p50 {b.p50:.2f} ms, p99 {b.p99:.2f} ms")
        report("sealgate mcp, acme/true in bwrap", o.rate, "calls/s", baseline=b.rate, target=target)
        print(f"  p50 {o.p50:.2f} ms, p99 {o.p99:.2f} ms [target p99 <= 40 ms]")
    for when, rate in (("before", direct_before), ("after", direct_after)):
        report(f"run_tool in process, no MCP, one at a time ({when})", rate, "calls/s", baseline=ours[1].rate)


if __name__ == "__main__":
    main()
