"""URL checks: scheme allow-list, internal and metadata addresses, numeric IP tricks, IDN look-alikes.

The host is read the way the WHATWG URL standard (and curl, and glibc's ``inet_aton``) read
it, not the way it looks: ``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``,
``%31%32%37.0.0.1``, ``１２７.０.０.１`` and ``[::ffff:127.0.0.1]`` are all 127.0.0.1. Any
such non-canonical spelling is itself a finding (``url-ip-obfuscation``), and the address it
denotes is classified like a plain one. When a resolver is given (the egress proxy passes
its own), every answer is classified too, which is what defeats DNS names pointing inside.
Inputs that different parsers would read differently (backslashes or whitespace in the URL,
a special scheme without ``//``) are ``url-unparseable``: fail closed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from sealgate.checks._finding import Finding, make, merge_findings
from sealgate.errors import UsageError

if TYPE_CHECKING:
    from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

__all__ = ["MAX_URL_CHARS", "analyse_url"]

MAX_URL_CHARS: Final = 8192

_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_SPECIAL: Final = frozenset({"http", "https", "ws", "wss", "ftp"})
_PORT: Final = re.compile(r"[0-9]{0,5}")
_PERCENT: Final = re.compile(r"%([0-9A-Fa-f]{2})")
# WHATWG "forbidden host code points" (plus the C0 controls, refused earlier).
_FORBIDDEN_HOST: Final = frozenset(" #%/:<>?@[\\]^|")
_DIGITS: Final = re.compile(r"[0-9]+")
_HEX: Final = re.compile(r"0[xX][0-9A-Fa-f]*")

_METADATA_NAMES: Final = frozenset(
    {
        "metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal",
        "metadata.tencentyun.com", "metadata.azure.internal",
    }
)  # fmt: skip
_LOCAL_NAMES: Final = frozenset(
    {"localhost", "localhost.localdomain", "localhost6", "localhost6.localdomain6", "ip6-localhost", "ip6-loopback"}
)
# Cloud instance metadata endpoints: AWS / GCP / Azure / OCI / DigitalOcean / OpenStack,
# AWS ECS and EKS pod identity, Alibaba, Oracle legacy, Tencent, and AWS's IPv6 IMDS.
_METADATA_ADDRESSES: Final = (
    "169.254.169.254", "169.254.170.2", "169.254.170.23", "100.100.100.200", "192.0.0.192", "169.254.0.23",
    "fd00:ec2::254", "fd00:ec2::23",
)  # fmt: skip


class _Unparseable(Exception):
    """Internal: the URL cannot be read unambiguously."""


@lru_cache(maxsize=1)
def _tables() -> tuple[
    frozenset[IPv4Address | IPv6Address], IPv4Network, IPv6Network, IPv6Network, IPv6Network
]:  # fmt: skip
    import ipaddress

    metadata = frozenset(ipaddress.ip_address(a) for a in _METADATA_ADDRESSES)
    return (
        metadata,
        ipaddress.IPv4Network("100.64.0.0/10"),
        ipaddress.IPv6Network("fc00::/7"),
        ipaddress.IPv6Network("64:ff9b::/96"),
        ipaddress.IPv6Network("::/96"),
    )


def _embedded_v4(addr: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64, Teredo, compatible)."""
    import ipaddress

    _, _, _, nat64, compat = _tables()
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    if addr in nat64 or (addr in compat and int(addr) > 1):
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def _category(addr: IPv4Address | IPv6Address) -> tuple[str, str, str] | None:
    """``(code, description, address)`` for an address a tool must not reach, or ``None``.

    ``address`` is the canonical address the finding is about: for an IPv6 address that
    carries an IPv4 one (mapped, 6to4, NAT64, Teredo), the IPv4 address, so every spelling
    of one target gives the same ``location``.
    """
    metadata, cgnat, ula, _, _ = _tables()
    if addr in metadata:
        return "url-metadata-address", "a cloud instance metadata endpoint", str(addr)
    if addr.version == 6:
        inner = _embedded_v4(addr)
        if inner is not None:
            # The IPv4 address is where the packets go (mapped, NAT64, 6to4, Teredo): judge it alone.
            found = _category(inner)
            return None if found is None else (found[0], f"{found[1]} (embedded in {addr})", found[2])
    if addr.is_loopback:
        return "url-private-address", "a loopback address", str(addr)
    if addr.is_unspecified:
        return "url-private-address", "the unspecified address (reaches the local host)", str(addr)
    if addr.is_link_local:
        return "url-private-address", "a link-local address", str(addr)
    if addr.version == 4 and addr in cgnat:
        return "url-private-address", "carrier-grade NAT shared address space", str(addr)
    if addr.version == 6 and addr in ula:
        return "url-private-address", "an IPv6 unique-local address", str(addr)
    if addr.is_private:
        return "url-private-address", "a private address", str(addr)
    if addr.is_multicast:
        return "url-private-address", "a multicast address", str(addr)
    if addr.is_reserved or not addr.is_global:
        return "url-private-address", "a reserved or non-global address", str(addr)
    return None


def _ipv4_number(part: str) -> tuple[int, bool] | None:
    """WHATWG "IPv4 number parser": ``(value, non-canonical)`` or ``None``."""
    if _HEX.fullmatch(part):
        return (int(part[2:], 16) if len(part) > 2 else 0), True
    if not _DIGITS.fullmatch(part):
        return None
    if len(part) > 1 and part[0] == "0":
        return (int(part, 8), True) if all(c in "01234567" for c in part) else None
    return int(part), False


def _ends_in_number(labels: list[str]) -> bool:
    last = labels[-1]
    return bool(_DIGITS.fullmatch(last) or _HEX.fullmatch(last))


def _parse_ipv4(labels: list[str]) -> tuple[int, bool]:
    """WHATWG "IPv4 parser" over a host's labels: ``(address, non-canonical)``; raises if invalid."""
    if len(labels) > 4 or "" in labels:
        raise _Unparseable("numeric host is not a valid IPv4 address")
    numbers: list[int] = []
    odd = len(labels) != 4
    for label in labels:
        parsed = _ipv4_number(label)
        if parsed is None:
            raise _Unparseable("numeric host is not a valid IPv4 address")
        numbers.append(parsed[0])
        odd = odd or parsed[1]
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise _Unparseable("numeric host is out of the IPv4 range")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n * 256 ** (3 - i)
    return value, odd


def _scripts(label: str) -> list[str]:
    import unicodedata

    seen: list[str] = []
    for ch in label:
        if ch.isalpha():
            script = unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]
            if script not in seen:
                seen.append(script)
    return seen


def _idn_findings(host: str, labels: Iterable[str], findings: list[Finding]) -> None:
    for label in labels:
        shown = label
        if label.startswith("xn--"):
            try:
                shown = label[4:].encode("ascii").decode("punycode")
            except (UnicodeError, ValueError):
                findings.append(make("url-idn-lookalike", f"host {host}: label {label!r} is invalid punycode", host))
                continue
        elif label.isascii():
            continue
        scripts = _scripts(shown)
        if len(scripts) > 1:
            why = f"mixes {' and '.join(scripts)} letters"
        else:
            why = f"is an internationalised ({', '.join(scripts) or 'non-ASCII'}) name that may imitate an ASCII one"
        findings.append(make("url-idn-lookalike", f"host {host}: label {shown!r} ({label}) {why}", host))


def _host_listed(host: str, entries: Collection[str]) -> bool:
    for raw in entries:
        entry = raw.lower().rstrip(".")
        if entry.startswith("*."):
            if host.endswith(entry[1:]):
                return True
        elif entry.startswith("."):
            if host == entry[1:] or host.endswith(entry):
                return True
        elif host == entry:
            return True
    return False


def _classify(addr: IPv4Address | IPv6Address, how: str, findings: list[Finding]) -> None:
    found = _category(addr)
    if found is not None:
        code, what, where = found
        findings.append(make(code, f"{how} {addr}, {what}", where))


def _decode_host(host: str) -> tuple[str, str | None]:
    """Percent-decode and Unicode-normalise a host as WHATWG does; say what was disguised."""
    disguise: list[str] = []
    if "%" in host:
        if _PERCENT.sub("", host).count("%"):
            raise _Unparseable("host has a malformed percent escape")
        try:
            host = _PERCENT.sub(lambda m: chr(int(m.group(1), 16)), host).encode("latin-1").decode("utf-8")
        except UnicodeError as exc:
            raise _Unparseable("host is not UTF-8 after percent-decoding") from exc
        disguise.append("percent-encoded")
    if not host.isascii():
        import unicodedata

        folded = unicodedata.normalize("NFKC", host).replace("\u3002", ".")
        if folded != host:
            disguise.append("Unicode-folded")
        host = folded
    return host.lower(), " and ".join(disguise) or None


def _analyse_host(
    hostport: str,
    findings: list[Finding],
    resolve: Callable[[str], list[str]] | None,
    allowed_hosts: Collection[str] | None,
    denied_hosts: Collection[str],
) -> None:
    import ipaddress

    if hostport.startswith("["):
        close = hostport.find("]")
        after = hostport[close + 1 :] if close >= 0 else ""
        if close < 0 or (after and not after.startswith(":")):
            raise _Unparseable("IPv6 host is not closed by ']'")
        _check_port(after[1:] if after else "")
        literal = hostport[1:close]
        address_part, zone_sep, zone = literal.partition("%")
        try:
            addr6 = ipaddress.IPv6Address(address_part)
        except ValueError as exc:
            raise _Unparseable(f"IPv6 host {literal!r} is not an address") from exc
        inner = _embedded_v4(addr6)
        if zone_sep:
            findings.append(make("url-ip-obfuscation", f"IPv6 host carries a zone id ({zone!r})", str(addr6)))
        if addr6.ipv4_mapped is not None:
            findings.append(
                make("url-ip-obfuscation", f"IPv4 address {addr6.ipv4_mapped} written as IPv6 {literal}", str(inner))
            )
        elif address_part.lower() != str(addr6):
            findings.append(make("url-ip-obfuscation", f"IPv6 host {literal} is not in canonical form", str(addr6)))
        host: str = str(addr6)
        addr: IPv4Address | IPv6Address = addr6
    else:
        if hostport.count(":") > 1:
            raise _Unparseable("host has more than one ':'")
        raw_host, _, port = hostport.partition(":")
        _check_port(port)
        host, disguise = _decode_host(raw_host)
        if host.endswith("."):
            host = host[:-1]
        if not host or any(c in _FORBIDDEN_HOST or ord(c) < 0x21 or ord(c) == 0x7F for c in host):
            raise _Unparseable(f"host {raw_host!r} is empty or has forbidden characters")
        labels = host.split(".")
        if _ends_in_number(labels):
            value, odd = _parse_ipv4(labels)
            addr = ipaddress.IPv4Address(value)
            if odd or disguise:
                how = " and ".join(x for x in (disguise, "non-canonical numeric" if odd else None) if x)
                why = f"host {raw_host!r} is a {how} spelling of {addr}"
                findings.append(make("url-ip-obfuscation", why, str(addr)))
            host = str(addr)
        else:
            if disguise:
                findings.append(make("url-ip-obfuscation", f"host {raw_host!r} is {disguise}", host))
            _idn_findings(host, labels, findings)
            _named_host(host, findings, resolve)
            _listed(host, findings, allowed_hosts, denied_hosts)
            return
    _classify(addr, "host is", findings)
    _listed(host, findings, allowed_hosts, denied_hosts)


def _check_port(port: str) -> None:
    if not _PORT.fullmatch(port) or (port and int(port) > 65535):
        raise _Unparseable(f"port {port!r} is not a number from 0 to 65535")


def _listed(
    host: str, findings: list[Finding], allowed_hosts: Collection[str] | None, denied_hosts: Collection[str]
) -> None:
    if denied_hosts and _host_listed(host, denied_hosts):
        findings.append(make("url-host-denied", f"host {host} is on the policy's hosts deny-list", host))
    if allowed_hosts is not None and not _host_listed(host, allowed_hosts):
        findings.append(make("url-host-not-allowed", f"host {host} is not on the policy's hosts allow-list", host))


def _named_host(host: str, findings: list[Finding], resolve: Callable[[str], list[str]] | None) -> None:
    import ipaddress

    if host in _METADATA_NAMES:
        findings.append(make("url-metadata-address", f"host {host} names a cloud instance metadata endpoint", host))
    elif host in _LOCAL_NAMES or host.endswith(".localhost"):
        findings.append(make("url-private-address", f"host {host} names the local host", host))
    if resolve is None:
        return
    query = host
    if not host.isascii():
        try:
            query = host.encode("idna").decode("ascii")
        except UnicodeError:
            query = host
    try:
        answers = list(resolve(query))
    except Exception as exc:  # any resolver failure denies; the type name is reported
        findings.append(make("url-resolution-failed", f"resolving {query} failed: {type(exc).__name__}", host))
        return
    if not answers:
        findings.append(make("url-resolution-failed", f"resolving {query} returned no address", host))
    for answer in answers:
        try:
            addr = ipaddress.ip_address(str(answer).partition("%")[0])
        except ValueError:
            findings.append(make("url-resolution-failed", f"resolver answered {answer!r}, not an address", host))
            continue
        _classify(addr, f"host {host} resolves to", findings)


def analyse_url(
    url: str,
    *,
    allowed_schemes: Collection[str] = ("https",),
    resolve: Callable[[str], list[str]] | None = None,
    allowed_hosts: Collection[str] | None = None,
    denied_hosts: Collection[str] = (),
) -> list[Finding]:
    """Findings for a URL a tool wants to reach. Never raises on any string.

    ``allowed_schemes`` is the policy's ``schemes`` allow-list (default ``https`` only);
    ``allowed_hosts`` / ``denied_hosts`` its ``hosts`` lists, entries matching exactly or,
    written ``*.example.com`` or ``.example.com``, as a domain suffix. ``resolve`` maps a
    host name to its addresses (a resolver failure or an empty answer is a finding, not an
    exception). Address findings carry the canonical address as their ``location``.
    Passing a plain string where a collection is expected is a :class:`UsageError`.
    """
    if any(isinstance(x, str) for x in (allowed_schemes, allowed_hosts, denied_hosts)):
        raise UsageError("analyse_url: allowed_schemes, allowed_hosts and denied_hosts are collections, not strings")
    findings: list[Finding] = []
    try:
        _analyse(url, findings, allowed_schemes, resolve, allowed_hosts, denied_hosts)
    except _Unparseable as exc:
        findings.append(make("url-unparseable", f"URL cannot be read unambiguously: {exc}", None))
    return merge_findings(findings)


def _analyse(
    url: str,
    findings: list[Finding],
    allowed_schemes: Collection[str],
    resolve: Callable[[str], list[str]] | None,
    allowed_hosts: Collection[str] | None,
    denied_hosts: Collection[str],
) -> None:
    if not isinstance(url, str) or len(url) > MAX_URL_CHARS:
        raise _Unparseable(f"not a string of at most {MAX_URL_CHARS} characters")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise _Unparseable("it contains whitespace or control characters (parsers strip them differently)")
    match = _SCHEME.match(url)
    if match is None:
        raise _Unparseable("it has no scheme")
    scheme = match.group(1).lower()
    if scheme not in {s.lower() for s in allowed_schemes}:
        findings.append(make("url-scheme-not-allowed", f"scheme {scheme!r} is not allowed", scheme))
    rest = url[match.end() :]
    if not rest.startswith("//"):
        if scheme in _SPECIAL or "\\" in rest[:2]:
            raise _Unparseable(f"{scheme}: URL without '//' (browsers and curl disagree on its host)")
        return
    end = len(rest)
    for sep in "/?#":
        at = rest.find(sep, 2)
        if at >= 0:
            end = min(end, at)
    authority = rest[2:end]
    if "\\" in authority:
        raise _Unparseable("backslash in the authority (WHATWG reads it as '/', others do not)")
    if "@" in authority:
        userinfo, _, authority = authority.rpartition("@")
        findings.append(
            make("url-userinfo", f"URL carries user information before the host ({len(userinfo)} characters)", None)
        )
    if not authority:
        if scheme in _SPECIAL:
            raise _Unparseable("it has no host")
        return
    _analyse_host(authority, findings, resolve, allowed_hosts, denied_hosts)
