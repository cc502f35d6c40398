"""The gate's check for tools (decision 0005): manifest, inputs, analysers and taint, in one decision.

:class:`ToolCheck` is what adapters pass to the gate (``Gate(home, checks={"tool":
ToolCheck(environ)})``). From the verified artifact bytes it parses the compiled manifest,
validates the caller's inputs against its schema, renders the argv, builds the sanitised
environment from the declared variables, and runs the analysers on what would execute:
the command (argv or shell string), the environment, the declared host paths, the
network allow-list, input values that are paths or URLs, and the taint of every input
against the sinks it reaches. The result is a :class:`ToolPlan` that travels in the
gate's token; the runner executes exactly that plan.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from sealgate._dataclass import dataclass
from sealgate.errors import MalformedInputError
from sealgate.gate import CheckContext, CheckOutcome
from sealgate.runner._spec import JOB_DIR, RESERVED_DIRS
from sealgate.tools.manifest import (
    SANDBOX_TOOL_DIR,
    ToolManifest,
    ToolResources,
    manifest_from_artifact,
    validate_inputs,
)

if TYPE_CHECKING:
    from sealgate.checks import Finding
    from sealgate.policy import TrustPolicy

__all__ = ["RUN_BASE_ENV", "SHELL", "ToolCheck", "ToolPlan"]

#: The shell a ``shell: true`` manifest runs under.
SHELL: Final = ("/bin/sh", "-c")
#: Variables every run gets besides the declared ones (the runner adds ``PATH`` and ``HOME``).
RUN_BASE_ENV: Final[Mapping[str, str]] = MappingProxyType({"LANG": "C.UTF-8", "TZ": "UTC"})

# Sandbox directories a declared host path cannot be bound over (the runner's own mounts, or
# paths that could pass for the system); host paths appear in the sandbox at the same path.
_SYSTEM_DIRS: Final = (*RESERVED_DIRS, JOB_DIR, SANDBOX_TOOL_DIR)
_SHELLS: Final = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "busybox", "fish", "csh", "tcsh"})
_INLINE_CODE_FLAG = re.compile(r"-[a-zA-Z]*[ce]|--command|--eval|-r")
_URL_LIKE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
_INTERPRETER = re.compile(r"(python|perl|ruby|node|nodejs|php|lua|luajit|tclsh|pwsh|osascript)[0-9.]*")


@dataclass(frozen=True, slots=True)
class ToolPlan:
    """What the gate judged and the runner executes: built from the verified bytes only.

    ``argv_taint`` gives, for each element of ``argv``, the taint label of the input it came
    from (``None`` for the manifest's own literals). ``env`` holds values (secrets
    included) and must never be logged; ``env_names`` is what the audit record shows.
    """

    manifest: ToolManifest
    inputs: Mapping[str, object]
    argv: tuple[str, ...]
    argv_taint: tuple[str | None, ...]
    env: Mapping[str, str]
    host_paths: tuple[tuple[str, bool], ...]
    resources: ToolResources
    network: tuple[str, ...]
    taint: str
    production: bool


def _from_command_line(manifest: ToolManifest, values: Mapping[str, object]) -> dict[str, object]:
    """``--input k=v`` gives strings: read integer and boolean inputs strictly from their text."""
    out: dict[str, object] = dict(values)
    for name, value in values.items():
        kind = manifest.inputs.get(name, {}).get("type")
        if not isinstance(value, str):
            continue
        if kind == "integer" and re.fullmatch(r"-?[0-9]{1,16}", value):
            out[name] = int(value)
        elif kind == "boolean" and value in ("true", "false"):
            out[name] = value == "true"
    return out


def _basename(element: str) -> str:
    return element.rsplit("/", 1)[-1]


def _code_position(argv: tuple[str, ...] | list[str], index: int) -> bool:
    """Whether element ``index`` is inline code for a shell or interpreter (``sh -c X``, ``python -c X``).

    Conservative on purpose: any earlier shell or interpreter with any earlier inline-code
    flag makes the element a code position, wrappers (``env``, ``timeout``) included.
    """
    runs_code = any(_basename(e) in _SHELLS or _INTERPRETER.fullmatch(_basename(e)) for e in argv[:index])
    return runs_code and any(_INLINE_CODE_FLAG.fullmatch(e) for e in argv[:index])


class ToolCheck:
    """The gate's check for ``kind: tool``.

    ``environ`` is the caller's environment, read only for the variables the manifest
    declares (secrets are passed by reference: the manifest names the variable, the value
    comes from here). Nothing else of it reaches the tool.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ: Mapping[str, str] = {} if environ is None else environ

    def check(self, context: CheckContext) -> CheckOutcome:
        from sealgate.checks import analyse_command, analyse_path, analyse_url, merge_findings, sanitise_env

        if context.production:
            # Sandbox capability is a check (ARCHITECTURE.md step 4): in production a failed
            # start-up probe denies here, before any token exists (cached per bwrap and boot).
            from sealgate.runner import probe_sandbox

            probe_sandbox(production=True)
        manifest = manifest_from_artifact(context.artifact)
        if manifest.name != context.name or manifest.version != context.version:
            raise MalformedInputError(
                f"the tool's manifest names {manifest.name}@{manifest.version}, but it was asked for as "
                f"{context.name}@{context.version}"
            )
        policy = context.policy
        findings: list[Finding] = []
        record: dict[str, Any] = {"manifest_sha256": manifest.digest}

        # Inputs: validated against the schema; absent (verification only) leaves placeholders.
        inputs: dict[str, object] = {}
        if context.inputs is not None:
            given = context.inputs
            if context.interface == "cli":
                given = _from_command_line(manifest, given)
            inputs = validate_inputs(manifest, given)
        record["inputs"] = sorted(inputs)

        # The command, with each element's taint.
        argv, argv_taint = self._argv(manifest, inputs, context)
        allow, deny = policy.allow_list("commands"), policy.deny_list("commands")
        if manifest.shell:
            assert isinstance(manifest.command, str)
            findings += analyse_command(manifest.command, shell=True, allow=allow, deny=deny)  # noqa: S604 - analysed
        else:
            findings += analyse_command(list(argv), shell=False, allow=allow, deny=deny)

        # Taint: every input element against the sinks it reaches, and path / URL checks of
        # the values themselves.
        if context.inputs is not None:
            findings += self._input_findings(argv, argv_taint, context.taint, policy)

        # Environment: declared variables only, from the caller's environment, sanitised.
        declared: dict[str, str] = {}
        missing: list[str] = []
        for var in manifest.env:
            value = self._environ.get(var.source)
            if value is None:
                missing.append(var.name)
            else:
                declared[var.name] = value
        env, env_findings = sanitise_env(
            declared, base=RUN_BASE_ENV, allow=policy.allow_list("env"), deny=policy.deny_list("env")
        )
        findings += env_findings
        record["env"] = sorted(env)
        if missing:
            record["env_missing"] = missing

        # Declared host paths: bound at the same path inside the sandbox.
        host_paths: list[tuple[str, bool]] = []
        path_allow, path_deny = policy.allow_list("paths"), policy.deny_list("paths")
        for writable, declared_paths in ((False, manifest.filesystem.read), (True, manifest.filesystem.write)):
            for path in declared_paths:
                for system in _SYSTEM_DIRS:
                    if path == system or path.startswith(system + "/"):
                        raise MalformedInputError(
                            f"the tool declares the host path {path}, which is under {system}: the sandbox has "
                            "its own system directories and private /tmp, so that path cannot be bound; declare "
                            "a path outside them"
                        )
                findings += analyse_path(path, allow=path_allow, deny=path_deny)
                host_paths.append((path, writable))
        record["filesystem"] = {"read": list(manifest.filesystem.read), "write": list(manifest.filesystem.write)}

        # Network: each allow-listed host through the URL checks and the policy's host lists.
        for host in manifest.network.allow:
            findings += analyse_url(
                f"https://{host}/",
                allowed_hosts=policy.allow_list("hosts"),
                denied_hosts=policy.deny_list("hosts"),
            )
        record["network"] = list(manifest.network.allow) or "none"

        caps = {k: v for k, v in policy.resources.as_dict().items() if k != "artifact_bytes"}
        resources = manifest.resources.capped(**caps)
        record["resources"] = {n: getattr(resources, n) for n in caps}
        plan = ToolPlan(
            manifest=manifest,
            inputs=MappingProxyType(inputs),
            argv=tuple(argv),
            argv_taint=tuple(argv_taint),
            env=MappingProxyType(env),
            host_paths=tuple(host_paths),
            resources=resources,
            network=manifest.network.allow,
            taint=context.taint,
            production=context.production,
        )
        return CheckOutcome(merge_findings(findings), record, plan)

    @staticmethod
    def _argv(
        manifest: ToolManifest, inputs: Mapping[str, object], context: CheckContext
    ) -> tuple[list[str], list[str | None]]:
        if manifest.shell:
            assert isinstance(manifest.command, str)
            return [*SHELL, manifest.command], [None, None, None]
        if context.inputs is None:
            # Verification only: the template itself, placeholders as written.
            argv = [SANDBOX_TOOL_DIR + e[len("{tool}") :] if e.startswith("{tool}/") else e for e in manifest.command]
            return argv, [None] * len(argv)
        argv = manifest.render_argv(inputs)
        taint: list[str | None] = []
        for element in manifest.command:
            if element.startswith("{input:"):
                if inputs.get(element[len("{input:") : -1]) is not None:
                    taint.append(context.taint)
            else:
                taint.append(None)
        assert len(taint) == len(argv)
        return argv, taint

    @staticmethod
    def _input_findings(
        argv: list[str], argv_taint: list[str | None], label: str, policy: TrustPolicy
    ) -> list[Finding]:
        from sealgate.checks import analyse_path, analyse_url
        from sealgate.checks._finding import make

        findings: list[Finding] = []
        allowed = policy.taint_sinks(label)
        schemes = policy.allow_list("schemes")
        for index, (element, taint) in enumerate(zip(argv, argv_taint, strict=True)):
            if taint is None:
                continue
            sinks = ["argv"]
            if _code_position(argv, index):
                sinks.append("shell")
            if element.startswith(("/", "~")) or "/../" in element or element.startswith("../"):
                sinks.append("path")
                findings += analyse_path(element, allow=policy.allow_list("paths"), deny=policy.deny_list("paths"))
            if _URL_LIKE.match(element):
                sinks.append("url")
                findings += analyse_url(
                    element,
                    allowed_schemes=schemes if schemes is not None else ("https",),
                    allowed_hosts=policy.allow_list("hosts"),
                    denied_hosts=policy.deny_list("hosts"),
                )
            for sink in sinks:
                if sink in allowed:
                    continue
                where = f"argv[{index}]"
                if sink == "shell":
                    findings.append(
                        make(
                            "taint-shell",
                            f"{where} is {label} input that a shell or interpreter would run as code; the policy "
                            f"does not let {label} reach a shell string",
                            where,
                        )
                    )
                else:
                    findings.append(
                        make(
                            "taint-sink-not-allowed",
                            f"{where} is {label} input used as a {sink}; the policy does not let {label} reach "
                            f"the {sink} sink",
                            where,
                        )
                    )
        return findings
