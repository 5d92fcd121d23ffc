"""Which network addresses the crawler may connect to (the SSRF guard).

A crawled page decides where its links and redirects point, so every host is resolved and each of
its addresses checked: loopback, private (RFC 1918), link-local, unique-local, multicast, reserved
and unspecified addresses are refused unless the config allows private hosts (or names the
network), and cloud-metadata endpoints are refused always. `http_client` runs the same check again
at connect time and connects to exactly the address it checked, so a DNS answer that changes
between the check and the connect (DNS rebinding) cannot slip through.
"""

import ipaddress
import socket
from dataclasses import dataclass

from slm_assets.ingest.config import CrawlConfig

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance-metadata services hand out cloud credentials; no config opens them.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean ...
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.170.23",  # AWS EKS pod identity agent
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS EKS pod identity over IPv6
        "100.100.100.200",  # Alibaba Cloud
    )
)
METADATA_HOSTNAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)
# IPv6 prefixes that carry an IPv4 address inside (NAT64); the embedded one is checked too.
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(Exception):
    """The host or one of its addresses is outside the address policy; the message says which and why."""


class HostUnresolvable(OSError):
    """DNS gave no address for the host."""


@dataclass(frozen=True)
class AddressPolicy:
    allow_private: bool = False
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_config(cls, config: CrawlConfig) -> "AddressPolicy":
        networks = tuple(ipaddress.ip_network(n, strict=False) for n in config.allowed_private_networks)
        return cls(allow_private=config.allow_private_hosts, allowed_networks=networks)

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` must not be connected to, or None when it may be."""
        candidates = [address, *_embedded_ipv4(address)]
        for candidate in candidates:
            if candidate in METADATA_ADDRESSES:
                return "a cloud metadata address (always refused)"
        if self.allow_private:
            return None
        if any(c in net for c in candidates for net in self.allowed_networks if c.version == net.version):
            return None
        for candidate in candidates:
            kind = _non_public_kind(candidate)
            if kind:
                return f"a {kind} address (allow_private_hosts is false)"
        return None

    def check_hostname(self, host: str) -> None:
        name = host.lower().rstrip(".")
        if name in METADATA_HOSTNAMES:
            raise AddressRefused(f"host {host} is a cloud metadata name (always refused)")

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Every address of `host`, each allowed by the policy; raises AddressRefused if any is not.

        One refused address refuses the host: an attacker's name may list a public address next to
        an internal one, and which of them a connect picks is not ours to guess.
        """
        self.check_hostname(host)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise HostUnresolvable(f"cannot resolve host {host}: {exc}") from exc
        addresses: list[IPAddress] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])  # drop an IPv6 zone id
            reason = self.refusal(address)
            if reason:
                shown = host if host.strip("[]") == str(address) else f"{host} ({address})"
                raise AddressRefused(f"refused {shown}: {reason}")
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise HostUnresolvable(f"cannot resolve host {host}: no addresses")
        return addresses


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses hidden in an IPv6 one (::ffff:a.b.c.d, 6to4, NAT64), which reach the IPv4 host."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address in NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _non_public_kind(address: IPAddress) -> str | None:
    """The reason class of a non-public address; `is_global` catches the rest (CGNAT, documentation ...)."""
    for kind in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved", "site_local"):
        if getattr(address, f"is_{kind}", False):
            if kind == "private" and isinstance(address, ipaddress.IPv6Address) and address in _ULA:
                return "unique-local"
            return kind.replace("_", "-")
    if not address.is_global:
        return "non-global"
    return None


_ULA = ipaddress.ip_network("fc00::/7")
