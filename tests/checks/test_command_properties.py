"""Property tests: command analysis never raises on any text and always gives the same answer."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealgate.checks import analyse_command

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SHELLISH = st.text(alphabet=st.sampled_from(list("abcrmshx $'\"\\|&;()<>{}`~*?#=\n\t-/.,:!019[]%+@^")), max_size=80)
TOKENS = st.lists(
    st.sampled_from(
        [
            "rm", "-rf", "/", "~", "sh", "-c", "bash", "curl", "http://x", "|", "&&", ";", "&", "$(", ")", "`", "'",
            '"', "$'\\x41'", "${IFS}", "eval", "env", "sudo", "xargs", "find", "-exec", "\\;", "awk", "python3", "-e",
            "base64", "-d", "nc", "export", "LD_PRELOAD=x", "f(){", "}", "<(", ">", "/dev/tcp/1/2", "<<EOF\nx\nEOF\n",
            "while", "do", "done", "true", "{", "(", "$x", "x=1", "vim", "+!sh", "tar", "--to-command=sh", "git",
            "core.pager=sh", "*", "\n", "'system(\"sh\")'", "$((", "[[",
        ]
    ),
    max_size=25,
).map(" ".join)  # fmt: skip


@SETTINGS
@given(st.one_of(SHELLISH, TOKENS, st.text(max_size=60)))
def test_arbitrary_shell_text_gives_findings_never_an_exception(text: str) -> None:
    findings = analyse_command(text, shell=True)
    # command-analysis-failed is the fail-closed guard for bugs: it must never be reached.
    assert "command-analysis-failed" not in {f.code for f in findings}, text
    assert findings == analyse_command(text, shell=True)


@SETTINGS
@given(
    st.lists(
        st.one_of(st.text(max_size=12), st.sampled_from(["sh", "-c", "rm -rf /", "find", "-exec", ";"])), max_size=8
    )
)
def test_arbitrary_argv_gives_findings_never_an_exception(argv: list[str]) -> None:
    findings = analyse_command(argv, shell=False)
    assert "command-analysis-failed" not in {f.code for f in findings}, argv
    assert findings == analyse_command(argv, shell=False)
