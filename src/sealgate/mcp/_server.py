"""The MCP server proper: ``tools/list`` from the verified registry view, every ``tools/call`` through the gate.

Built on the low-level ``Server`` of the ``mcp`` SDK (handlers passed to the constructor).
One :class:`McpGateway` holds one long-lived gate (it keeps the verified registry view and
re-checks expiry on every decision), the sessions' listings, and a watcher that polls the
registry generation and the tool store every second and sends
``notifications/tools/list_changed`` to each session whose listing is no longer current.

A call is answered in this order, each step refusing with an audited denial:

1. the name must be one this session was listed (``not-registered`` otherwise);
2. the arguments must match the input schema it was listed with (``malformed-input``);
3. the registry's digest for that exact version and the digest of the installed directory
   must both still be the digest this session was listed (``definition-changed``: the rug
   pull);
4. ``run_tool`` (or ``verify_tool`` for ``sealgate_explain``) with interface ``mcp`` and
   taint ``llm_output``: the gate's whole decision, the sandbox, the outcome record. The
   token the gate returns must carry the listed digest too, which closes the window
   between step 3 and the gate's own read of the directory.

No argument, ``_meta`` field or header reaches the gate except the tool's declared inputs
(the schema is closed: ``additionalProperties: false``), and the interface and taint labels
are fixed here, not taken from the request.

Thread use: calls run in worker threads (at most :data:`MAX_PARALLEL` at once), all on the
one gate. The gate's caches are dictionaries whose single reads and writes are atomic in
CPython (a race only repeats work); its audit log is opened before the first call and
passed in, because opening it lazily from two threads at once could open it twice; the
audit log serialises appends itself (group commit).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Final, NoReturn

import anyio
import anyio.to_thread
import jsonschema
from mcp import types
from mcp.server import Server, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.models import InitializationOptions

from sealgate.config import Home, database_url_from_env
from sealgate.digest import read_artifact
from sealgate.errors import DeniedError, MalformedInputError, Reason, RegistryError, SealgateError, Severity
from sealgate.gate import Decision, Gate, GateRequest
from sealgate.mcp._catalog import Catalog, ListedTool, build_catalog, store_fingerprint
from sealgate.tokens import VerifiedArtifact
from sealgate.tools import ToolCheck, ToolPlan, ToolRun, run_tool, verify_tool
from sealgate.tools.manifest import HARD_CAPS

__all__ = ["EXPLAIN_TOOL", "INTERFACE", "LIST_TOOL", "MAX_PARALLEL", "TAINT", "McpGateway", "serve_stdio"]

log = logging.getLogger("sealgate.mcp")

LIST_TOOL: Final = "sealgate_list"
EXPLAIN_TOOL: Final = "sealgate_explain"
#: Fixed for every call: the gate's interface label and the taint of MCP arguments (issue 3).
INTERFACE: Final = "mcp"
TAINT: Final = "llm_output"
#: Tool calls running at once; more wait their turn.
MAX_PARALLEL: Final = 8
#: Sessions remembered at once (streamable HTTP); the oldest listing is forgotten first.
MAX_SESSIONS: Final = 256
#: The watcher rebuilds the listing at least this often, even when nothing on disk moved
#: (expiry and edits inside an installed directory change nothing it polls).
FULL_REBUILD_SECONDS: Final = 60.0
_MAX_MESSAGE: Final = 400

_LIST_SCHEMA: Final[dict[str, Any]] = {"type": "object", "properties": {}, "additionalProperties": False}
_EXPLAIN_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "tool": {"type": "string", "minLength": 1, "maxLength": 128, "description": "A tool name as listed."},
        "arguments": {
            "type": "object",
            "description": "The arguments the call would pass; omit to ask about the tool alone.",
        },
    },
    "required": ["tool"],
    "additionalProperties": False,
}
_BUILTINS: Final = (
    types.Tool(
        name=LIST_TOOL,
        title="sealgate: list tools",
        description=(
            "List the tools this server offers, each with its exact version, sha256 digest and "
            "registry version, and the installed tools it does not offer, with the reason."
        ),
        input_schema=_LIST_SCHEMA,
    ),
    types.Tool(
        name=EXPLAIN_TOOL,
        title="sealgate: explain a call",
        description=(
            "Say whether a call of TOOL with ARGUMENTS would be allowed, and if not why (the reason "
            "code and sentence), without running anything. It is a real gate decision and is "
            "recorded in the audit log like every other."
        ),
        input_schema=_EXPLAIN_SCHEMA,
    ),
)


class _PinnedGate(Gate):
    """The server's one gate; a call pins the digest its tool was listed with (the rug-pull rule).

    The pin is per thread: each call runs in its own worker thread and sets it around
    ``run_tool``/``verify_tool``, which call :meth:`verify` in that same thread.
    """

    def __init__(self, home: Home, environ: dict[str, str]) -> None:
        from sealgate.audit import open_audit_log

        url = database_url_from_env()
        super().__init__(
            home,
            database_url=url,
            environ=environ,
            audit=open_audit_log(home.root, url),
            checks={"tool": ToolCheck(environ)},
        )
        self._pin = threading.local()

    @contextmanager
    def pinned(self, digest: str) -> Iterator[None]:
        self._pin.digest = digest
        try:
            yield
        finally:
            self._pin.digest = None

    def verify(self, request: GateRequest) -> VerifiedArtifact:
        token = super().verify(request)
        expected = getattr(self._pin, "digest", None)
        if expected is not None and token.digest != expected:
            # The registry and the store changed together between the session's check and the
            # gate's read: the gate allowed other bytes than the ones this session was listed.
            self.refuse(
                request,
                Reason.DEFINITION_CHANGED,
                f"{token.target} is now sha256 {token.digest[:16]}…, but this session was listed "
                f"{expected[:16]}…; it is not run. List the tools again.",
                Severity.HIGH,
            )
        return token


class _Session:
    """What one MCP session was listed, and where to tell it that the listing changed."""

    __slots__ = ("key", "listed", "notified", "peer")

    def __init__(self) -> None:
        self.listed: dict[str, ListedTool] = {}
        self.key: frozenset[tuple[str, str, int]] | None = None
        self.peer: Any = None  # the SDK's ServerSession of the last tools/list
        self.notified = False


def _session_key(ctx: ServerRequestContext[Any, Any]) -> str:
    """The streamable HTTP session id; stdio serves one session per process."""
    headers = getattr(ctx.request, "headers", None)
    value = headers.get("mcp-session-id") if headers is not None else None
    return value if isinstance(value, str) else "-"


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _result(text: str, structured: dict[str, Any], *, error: bool) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)], structured_content=structured, is_error=error
    )


def _denied(exc: DeniedError, *, error: bool = True) -> types.CallToolResult:
    decision = exc.decision if isinstance(exc.decision, Decision) else None
    structured = {
        "allowed": False,
        "reason": exc.reason.value,
        "severity": decision.severity.value if decision is not None else None,
        "message": exc.message,
        "audit_index": decision.audit_index if decision is not None else None,
    }
    return _result(f"DENIED {exc.reason.value}: {exc.message}", structured, error=error)


def _failed(exc: SealgateError) -> types.CallToolResult:
    structured = {"allowed": False, "reason": exc.reason.value, "message": exc.message, "audit_index": None}
    return _result(f"ERROR {exc.reason.value}: {exc.message}", structured, error=True)


def _internal() -> types.CallToolResult:
    return _failed(SealgateError("the MCP server failed unexpectedly; see its log", reason=Reason.INTERNAL_ERROR))


def _ran(run: ToolRun) -> types.CallToolResult:
    structured = {"allowed": True, "reason": "allowed", **run.to_json()}
    if run.ok and not run.timed_out:
        return _result(run.stdout.decode("utf-8", "replace"), structured, error=False)
    if run.killed_reason is not None:
        how = f"stopped by the runner ({run.killed_reason})"
    elif run.signal is not None:
        how = f"killed by signal {run.signal}"
    else:
        how = f"exit status {run.exit_code}"
    return _result(f"FAILED: {run.name}@{run.version} {how}\n{run.stderr.decode('utf-8', 'replace')}", structured,
                   error=True)  # fmt: skip


def _verdict(token: VerifiedArtifact) -> types.CallToolResult:
    decision = token.extra.get("decision")
    reason = decision.reason.value if isinstance(decision, Decision) else "allowed"
    message = decision.message if isinstance(decision, Decision) else f"{token.target} is allowed"
    plan = token.interpretation
    structured: dict[str, Any] = {
        "allowed": True,
        "reason": reason,
        "message": message,
        "audit_index": token.audit_index,
        "tool": f"{token.name}@{token.version}",
        "digest": {"sha256": token.digest},
        "registry_version": token.registry_version,
        "level": token.level,
        "warnings": list(token.warnings),
        "argv": list(plan.argv) if isinstance(plan, ToolPlan) else None,
    }
    return _result(f"ALLOWED {reason}: {message} (explained only; nothing was run)", structured, error=False)


class McpGateway:
    """The sealgate MCP server over one home: one gate, the listings, the change watcher.

    ``server`` is the SDK's low-level ``Server``; serve it with :func:`sealgate.mcp.serve_stdio`
    or :func:`sealgate.mcp.serve_http`. ``environ`` is where declared tool variables are read
    (default: this process's environment). Call :meth:`close` when done.
    """

    def __init__(
        self,
        home: Home,
        *,
        environ: Mapping[str, str] | None = None,
        backend: str = "bwrap",
        poll_seconds: float = 1.0,
    ) -> None:
        self.gate = _PinnedGate(home, dict(os.environ if environ is None else environ))
        self._backend = backend
        self._poll = poll_seconds
        self._limiter = anyio.CapacityLimiter(MAX_PARALLEL)
        # Listing has its own threads, so that eight long tool runs do not hold up tools/list.
        self._list_limiter = anyio.CapacityLimiter(2)
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._validators: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
        self._fingerprint: tuple[object, ...] | None = None
        self.server = _GateServer(
            "sealgate",
            version=_version(),
            instructions=(
                "Every tool here is a registered, approved, installed sealgate tool; each call is "
                "checked by the sealgate gate, run in a sandbox and recorded in the audit log. "
                "Arguments are treated as LLM output. Call sealgate_explain to see why a call would "
                "be denied."
            ),
            lifespan=self._lifespan,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )

    def close(self) -> None:
        self.gate.close()

    # -- listing ----------------------------------------------------------------------

    def _rebuild_sync(self) -> Catalog:
        fingerprint = store_fingerprint(self.gate.home)  # taken first: a change during the build is seen next poll
        catalog = build_catalog(self.gate)
        self._fingerprint = fingerprint
        return catalog

    async def _rebuild(self) -> Catalog:
        return await anyio.to_thread.run_sync(self._rebuild_sync, limiter=self._list_limiter)

    def _session(self, ctx: ServerRequestContext[Any, Any]) -> _Session:
        key = _session_key(ctx)
        session = self._sessions.get(key)
        if session is None:
            session = self._sessions[key] = _Session()
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(key)
        return session

    @staticmethod
    def _tool(listed: ListedTool) -> types.Tool:
        description = listed.description or listed.ref
        if listed.status == "deprecated":
            description = f"[deprecated] {description}"
        return types.Tool(
            name=listed.mcp_name,
            title=listed.ref,
            description=description,
            input_schema=dict(listed.schema),
            _meta=listed.meta(),
        )

    async def _list_tools(
        self, ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        catalog = await self._rebuild()
        session = self._session(ctx)
        # This listing replaces the session's previous one: from now on a call is checked
        # against exactly these names, schemas and digests.
        session.listed = dict(catalog.tools)
        session.key = catalog.key()
        session.peer = ctx.session
        session.notified = False
        if catalog.error is not None:
            log.warning("listing no tools: the registry view cannot be used: %s", catalog.error)
        return types.ListToolsResult(tools=[*_BUILTINS, *(self._tool(t) for t in catalog.tools.values())])

    # -- watching for changes -----------------------------------------------------------

    @asynccontextmanager
    async def _lifespan(self, server: Server[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        async with anyio.create_task_group() as group:
            group.start_soon(self._watch)
            try:
                yield {}
            finally:
                group.cancel_scope.cancel()

    async def _watch(self) -> None:
        last_full = anyio.current_time()
        while True:
            await anyio.sleep(self._poll)
            try:
                fingerprint = await anyio.to_thread.run_sync(store_fingerprint, self.gate.home)
                if fingerprint == self._fingerprint and anyio.current_time() - last_full < FULL_REBUILD_SECONDS:
                    continue
                last_full = anyio.current_time()
                await self.check_for_changes()
            except Exception:  # the watcher must outlive any one failure; calls are checked anyway
                log.exception("the tool-list watcher failed; it keeps polling")

    async def check_for_changes(self) -> int:
        """Rebuild the listing; tell each session whose listing is out of date. Returns how many were told."""
        key = (await self._rebuild()).key()
        told = 0
        for session in list(self._sessions.values()):
            if session.peer is None or session.notified or session.key == key:
                continue
            session.notified = True
            try:
                with anyio.fail_after(5):
                    await session.peer.send_tool_list_changed()
                told += 1
            except Exception as exc:  # the client went away: forget where to write
                log.info("could not send tools/list_changed: %r", exc)
                session.peer = None
        return told

    # -- calls --------------------------------------------------------------------------

    async def _call_tool(
        self, ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        try:
            session = self._session(ctx)
            name, args = params.name, params.arguments if params.arguments is not None else {}
            if name == LIST_TOOL:
                return await self._list_call(args)
            if name == EXPLAIN_TOOL:
                problem = self._schema_problem(("", EXPLAIN_TOOL), _EXPLAIN_SCHEMA, args)
                if problem is not None:
                    return _failed(MalformedInputError(f"{EXPLAIN_TOOL}: {problem}"))
                inner = args.get("arguments")
                return await anyio.to_thread.run_sync(
                    self._decide, session, str(args["tool"]), inner, False, limiter=self._limiter
                )
            return await anyio.to_thread.run_sync(self._decide, session, name, args, True, limiter=self._limiter)
        except Exception:
            # Never a traceback to the client: the details go to this server's log.
            log.exception("tools/call failed unexpectedly")
            return _internal()

    async def _list_call(self, args: Mapping[str, Any]) -> types.CallToolResult:
        if args:
            return _failed(MalformedInputError(f"{LIST_TOOL} takes no arguments"))
        catalog = await self._rebuild()
        structured = {
            "tools": [t.to_json() for t in catalog.tools.values()],
            "not_listed": [n.to_json() for n in catalog.not_listed],
            "registry_error": catalog.error,
        }
        lines = [f"{t.mcp_name}: {t.ref} sha256:{t.digest} ({t.status})" for t in catalog.tools.values()]
        lines += [f"not listed: {n.tool}: {n.why}" for n in catalog.not_listed]
        if catalog.error is not None:
            lines.append(f"the registry view cannot be used: {catalog.error}")
        return _result("\n".join(lines) or "no tools", structured, error=False)

    def _schema_problem(self, key: tuple[str, str], schema: Mapping[str, Any], args: Any) -> str | None:
        validator = self._validators.get(key)
        if validator is None:
            if len(self._validators) >= 4096:
                self._validators.clear()
            validator = self._validators[key] = jsonschema.Draft202012Validator(schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(args))
        if error is None:
            return None
        where = "/".join(str(p) for p in error.absolute_path) or "arguments"
        return _clip(f"{where}: {error.message}")

    def _deny(self, request: GateRequest, reason: Reason, message: str, severity: Severity) -> NoReturn:
        self.gate.refuse(request, reason, message, severity)
        raise AssertionError("Gate.refuse always raises")  # pragma: no cover

    def _decide(self, session: _Session, mcp_name: str, args: object, run: bool) -> types.CallToolResult:
        """Steps 1-4 of the module docstring, in a worker thread. ``run=False`` explains only."""
        try:
            listed = session.listed.get(mcp_name)
            if listed is None:
                self._deny(
                    GateRequest("tool", _clip(mcp_name), "-", Path("."), INTERFACE, TAINT),
                    Reason.NOT_REGISTERED,
                    _clip(
                        f"{mcp_name!r} is not a tool this session was listed; sealgate lists only registered, "
                        "approved and installed tools: call tools/list (again)"
                    ),
                    Severity.MEDIUM,
                )
            request = GateRequest("tool", listed.name, listed.version, listed.path, INTERFACE, TAINT)
            if args is not None:
                problem = self._schema_problem((listed.mcp_name, listed.digest), listed.schema, args)
                if problem is not None:
                    self._deny(
                        request,
                        Reason.MALFORMED_INPUT,
                        f"the arguments do not match the input schema of {listed.ref}: {problem}",
                        Severity.MEDIUM,
                    )
            self._check_unchanged(listed, request)
            assert args is None or isinstance(args, dict)
            with self.gate.pinned(listed.digest):
                if run:
                    return _ran(
                        run_tool(
                            listed.ref,
                            inputs=args or {},
                            taint=TAINT,
                            interface=INTERFACE,
                            gate=self.gate,
                            backend=self._backend,
                        )
                    )
                return _verdict(verify_tool(listed.ref, inputs=args, taint=TAINT, interface=INTERFACE, gate=self.gate))
        except DeniedError as exc:
            return _denied(exc, error=run)
        except SealgateError as exc:
            return _failed(exc)
        except Exception:
            log.exception("a tool call failed unexpectedly")
            return _internal()

    def _check_unchanged(self, listed: ListedTool, request: GateRequest) -> None:
        """Step 3: the registry entry and the installed bytes are still what this session was listed."""
        try:
            entry = self.gate.registry_entry("tool", listed.name, listed.version)
        except RegistryError:
            entry = None  # the gate's own decision denies, with the view's reason
        if entry is not None and entry.get("digest") != listed.digest:
            self._deny(
                request,
                Reason.DEFINITION_CHANGED,
                f"{listed.target} has sha256 {str(entry.get('digest'))[:16]}… in registry version "
                f"{entry.get('registry_version')}, but this session was listed {listed.digest[:16]}… "
                f"(registry version {listed.registry_version}); list the tools again",
                Severity.HIGH,
            )
        try:
            installed = read_artifact(listed.path, max_size=HARD_CAPS["artifact_bytes"]).digest
        except (MalformedInputError, OSError):
            return  # gone or unreadable: the gate reads it again and denies with its own reason
        if installed != listed.digest:
            self._deny(
                request,
                Reason.DEFINITION_CHANGED,
                f"the installed copy of {listed.ref} is now sha256 {installed[:16]}…, but this session was "
                f"listed {listed.digest[:16]}…; list the tools again",
                Severity.HIGH,
            )


class _GateServer(Server[dict[str, Any]]):
    """The SDK server, announcing ``tools.listChanged`` on every transport (stdio and HTTP)."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True), experimental_capabilities, extensions
        )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sealgate")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


async def serve_stdio(server: Server[Any]) -> None:
    """Serve ``server`` (``McpGateway.server``) on this process's stdin and stdout until stdin closes."""
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())
