"""URL checks: schemes, internal and metadata addresses however they are spelled, IDN look-alikes."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealgate.checks import analyse_url
from sealgate.errors import Severity


class FakeResolver:
    """A stand-in for the egress proxy's resolver: a fixed table, NXDOMAIN for anything else."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(f"NXDOMAIN {host}")
        return self.table[host]


def codes(url: str, **kwargs: object) -> set[str]:
    return {f.code for f in analyse_url(url, **kwargs)}  # type: ignore[arg-type]


def test_public_https_url_is_allowed() -> None:
    assert codes("https://pypi.org/simple/requests/") == set()
    assert codes("https://8.8.8.8/") == set()


@pytest.mark.parametrize(
    "url", ["http://pypi.org/", "file:///etc/passwd", "gopher://x/", "ftp://x/", "javascript:alert(1)"]
)
def test_scheme_outside_the_allow_list_is_high(url: str) -> None:
    findings = analyse_url(url)
    assert "url-scheme-not-allowed" in {f.code for f in findings}
    assert max(f.severity for f in findings) >= Severity.HIGH


def test_allowed_schemes_come_from_the_policy() -> None:
    assert codes("http://pypi.org/", allowed_schemes=("https", "http")) == set()


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "10.1.2.3", "172.16.0.5", "192.168.1.1", "169.254.1.1", "100.64.0.1", "0.0.0.0", "[::1]", "[fc00::1]",
     "[fe80::1]", "[::]", "localhost", "api.localhost", "224.0.0.1"],
)  # fmt: skip
def test_loopback_private_link_local_cgnat_and_unique_local_hosts_are_high(host: str) -> None:
    findings = analyse_url(f"https://{host}/")
    assert [(f.code, f.severity) for f in findings] == [("url-private-address", Severity.HIGH)]


@pytest.mark.parametrize(
    "host", ["169.254.169.254", "[fd00:ec2::254]", "metadata.google.internal", "100.100.100.200", "169.254.170.2"]
)
def test_cloud_metadata_endpoint_is_critical(host: str) -> None:
    findings = analyse_url(f"http://{host}/latest/meta-data/", allowed_schemes=("http",))
    assert [(f.code, f.severity) for f in findings] == [("url-metadata-address", Severity.CRITICAL)]


@pytest.mark.parametrize(
    "host",
    ["2130706433", "0177.0.0.1", "0x7f.1", "127.1", "0x7f000001", "017700000001", "127.0.1", "%31%32%37.0.0.1",
     "\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "127.0.0.1.",
     "0x7F.0.0.1"],
)  # fmt: skip
def test_numeric_spellings_of_loopback_are_obfuscation_and_loopback(host: str) -> None:
    findings = analyse_url(f"https://{host}/")
    found = {(f.code, f.location) for f in findings}
    assert ("url-private-address", "127.0.0.1") in found
    if host != "127.0.0.1.":
        assert ("url-ip-obfuscation", "127.0.0.1") in found


def test_userinfo_cannot_hide_the_real_host() -> None:
    assert codes("https://pypi.org@127.0.0.1/") == {"url-userinfo", "url-private-address"}
    assert codes("https://127.0.0.1@pypi.org/") == {"url-userinfo"}


def test_ipv6_zone_id_is_obfuscation() -> None:
    assert codes("https://[fe80::1%25eth0]/") == {"url-ip-obfuscation", "url-private-address"}


def test_ipv6_forms_carrying_a_metadata_address_are_critical() -> None:
    findings = analyse_url("https://[64:ff9b::a9fe:a9fe]/")
    assert [(f.code, f.location) for f in findings] == [("url-metadata-address", "169.254.169.254")]


@pytest.mark.parametrize("host", ["xn--pple-43d.com", "\u0430pple.com", "paypa\u04cf.com", "xn--80ak6aa92e.com"])
def test_idn_look_alike_is_medium(host: str) -> None:
    findings = analyse_url(f"https://{host}/")
    assert [(f.code, f.severity) for f in findings] == [("url-idn-lookalike", Severity.MEDIUM)]


@pytest.mark.parametrize(
    "url",
    ["", "not a url", "https:example.com", "https:/example.com", "https://", "https://exa mple.com/",
     "https://a\\@127.0.0.1/", "https://example.com\t/", "https://1.2.3.4.5/", "https://256.0.0.1/", "https://08.1.1.1/",
     "https://[::1/", "https://example.com:65536/", "https://a:b:c/", "https://%zz/", "x" * 9000],
)  # fmt: skip
def test_ambiguous_or_malformed_url_is_unparseable_high(url: str) -> None:
    findings = analyse_url(url)
    assert "url-unparseable" in {f.code for f in findings}


def test_name_resolving_inside_is_caught_through_the_resolver() -> None:
    resolve = FakeResolver(
        {
            "pypi.org": ["151.101.0.223"],
            "rebind.example": ["151.101.0.223", "127.0.0.1"],
            "meta.example": ["169.254.169.254"],
            "v6.example": ["::ffff:10.0.0.1"],
            "empty.example": [],
            "junk.example": ["not-an-address"],
        }
    )
    assert codes("https://pypi.org/", resolve=resolve) == set()
    assert codes("https://rebind.example/", resolve=resolve) == {"url-private-address"}
    assert codes("https://meta.example/", resolve=resolve) == {"url-metadata-address"}
    assert codes("https://v6.example/", resolve=resolve) == {"url-private-address"}
    assert codes("https://empty.example/", resolve=resolve) == {"url-resolution-failed"}
    assert codes("https://junk.example/", resolve=resolve) == {"url-resolution-failed"}
    assert codes("https://nx.example/", resolve=resolve) == {"url-resolution-failed"}
    assert codes("https://127.0.0.1/", resolve=resolve) == {"url-private-address"}
    assert "127.0.0.1" not in resolve.asked  # literal addresses are never sent to the resolver


def test_policy_host_lists_match_exactly_or_by_suffix() -> None:
    assert codes("https://files.pythonhosted.org/x", allowed_hosts={"*.pythonhosted.org"}) == set()
    assert codes("https://pythonhosted.org.evil.example/", allowed_hosts={"*.pythonhosted.org"}) == {
        "url-host-not-allowed"
    }
    assert codes("https://pypi.org/", allowed_hosts={"pypi.org"}, denied_hosts={"pypi.org"}) == {"url-host-denied"}
    assert codes("https://evil.example/", allowed_hosts=set()) == {"url-host-not-allowed"}


# -- properties


def _spellings(value: int) -> list[str]:
    a, b, c, d = value.to_bytes(4, "big")
    return [
        str(value),
        hex(value),
        "0" + oct(value)[2:],
        f"{a}.{b}.{c}.{d}",
        f"{a:#x}.{b:#x}.{c:#x}.{d:#x}",
        f"0{a:o}.0{b:o}.0{c:o}.0{d:o}",
        f"{a}.{(b << 16) | (c << 8) | d}",
        f"{a}.{b}.{(c << 8) | d}",
        f"{a:#x}.{b}.0{c:o}.{d}",
        f"[::ffff:{a}.{b}.{c}.{d}]",
        f"[::ffff:{(a << 8) | b:x}:{(c << 8) | d:x}]",
    ]


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0x7F000000, max_value=0x7FFFFFFF))
def test_every_numeric_spelling_of_a_loopback_address_names_the_same_address(value: int) -> None:
    canonical = str(ipaddress.IPv4Address(value))
    for spelling in _spellings(value):
        locations = {f.location for f in analyse_url(f"https://{spelling}/") if f.code == "url-private-address"}
        assert locations == {canonical}, spelling


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_numeric_spelling_normalises_to_one_address(value: int) -> None:
    canonical = str(ipaddress.IPv4Address(value))
    for spelling in _spellings(value):
        findings = analyse_url(f"https://{spelling}/")
        assert "url-unparseable" not in {f.code for f in findings}, spelling
        assert {f.location for f in findings if f.location is not None} <= {canonical}, spelling
        if spelling != canonical:
            assert "url-ip-obfuscation" in {f.code for f in findings}, spelling


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=60),
        st.lists(
            st.sampled_from(["https://", "http:", "//", "@", "[", "]", ":", "%", "%25", "0x", "127", ".", "1", "::",
                             "ffff", "xn--", "\u0430", "\\", "/", "#", "?", "localhost", "\uff10"]),
            max_size=12,
        ).map("".join),
    )
)  # fmt: skip
def test_url_checks_never_raise_and_are_deterministic(url: str) -> None:
    def resolve(host: str) -> list[str]:
        if len(host) % 3 == 0:
            raise OSError("fake failure")
        return ["10.0.0.1"] if len(host) % 3 == 1 else ["93.184.216.34"]

    first = analyse_url(url, resolve=resolve)
    assert first == analyse_url(url, resolve=resolve)


def test_one_string_instead_of_a_policy_list_is_a_usage_error() -> None:
    from sealgate.errors import UsageError

    with pytest.raises(UsageError):
        analyse_url("https://x.example/", allowed_schemes="https")
    with pytest.raises(UsageError):
        analyse_url("https://x.example/", allowed_hosts="x.example")
