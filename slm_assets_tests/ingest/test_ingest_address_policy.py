"""The SSRF guard: which addresses are refused, and that the connect goes to the address checked."""

import ipaddress
import socket

import pytest

from slm_assets.ingest.address_policy import AddressPolicy, AddressRefused
from slm_assets.ingest.collect import collect_documents
from slm_assets.ingest.config import CrawlConfig, SourcesConfig

ALWAYS_REFUSED = [
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254",
    "::ffff:169.254.169.254",  # IPv4-mapped
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
]
PRIVATE = [
    "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.1.1", "0.0.0.0", "240.0.0.1",
    "224.0.0.1", "100.64.0.1", "192.0.2.1", "::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1",
    "::ffff:10.0.0.1", "2002:a00:1::1",  # 6to4 wrapping 10.0.0.1
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"]


@pytest.mark.parametrize("address", ALWAYS_REFUSED)
def test_metadata_addresses_are_refused_even_with_private_hosts_allowed(address):
    ip = ipaddress.ip_address(address)
    for policy in (AddressPolicy(), AddressPolicy(allow_private=True),
                   AddressPolicy(allowed_networks=(ipaddress.ip_network("169.254.0.0/16"),))):
        assert "cloud metadata" in (policy.refusal(ip) or ""), policy


@pytest.mark.parametrize("address", PRIVATE)
def test_non_public_addresses_are_refused_unless_allowed(address):
    ip = ipaddress.ip_address(address)
    assert AddressPolicy().refusal(ip), address
    assert AddressPolicy(allow_private=True).refusal(ip) is None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) is None


def test_allowed_network_opens_exactly_that_network():
    policy = AddressPolicy.from_config(CrawlConfig(allowed_private_networks=["127.0.0.1/32"]))
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("127.0.0.2"))
    assert policy.refusal(ipaddress.ip_address("10.0.0.1"))


def test_bad_network_in_config_is_rejected():
    with pytest.raises(ValueError, match="not-a-network"):
        CrawlConfig(allowed_private_networks=["not-a-network"])


@pytest.mark.parametrize("host", ["2852039166", "0251.0376.0251.0376", "metadata.google.internal", "METADATA.google.internal."])
def test_obfuscated_metadata_hosts_are_refused_by_resolution(host):
    with pytest.raises(AddressRefused, match="cloud metadata"):
        AddressPolicy(allow_private=True).resolve(host, 80)


def test_name_with_one_private_address_is_refused(monkeypatch):
    answers = [("93.184.216.34", 80), ("10.0.0.7", 80)]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, 1, 6, "", sa) for sa in answers])
    with pytest.raises(AddressRefused, match=r"mixed\.test \(10\.0\.0\.7\): a private address"):
        AddressPolicy().resolve("mixed.test", 80)


def test_dns_rebinding_is_refused_at_connect(site, fake_dns, connect_log):
    """The name passes the pre-check as 127.0.0.1, then answers 10.0.0.1: the connect must not follow it."""
    asked = fake_dns("rebind.test", ["127.0.0.1", "10.0.0.1"])
    url = f"http://rebind.test:{site.port}/good.html"
    config = CrawlConfig(
        seed_urls=[url], obey_robots=False, delay_s=0, max_depth=0, allowed_private_networks=["127.0.0.1/32"]
    )
    result = collect_documents("ev", SourcesConfig(crawl=config, use_inbox=False), folders=[])
    (failure,) = result.failures
    assert failure["stage"] == "policy"
    assert "rebind.test (10.0.0.1): a private address" in failure["reason"]
    assert asked == ["127.0.0.1", "10.0.0.1"]  # the pre-check, then the connect-time check
    assert connect_log == []  # nothing was connected to, least of all 10.0.0.1


def test_connect_goes_to_the_checked_address_with_the_original_host_header(site, fake_dns, connect_log):
    fake_dns("docs.test", ["127.0.0.1"])
    url = f"http://docs.test:{site.port}/good.html"
    config = CrawlConfig(
        seed_urls=[url], obey_robots=False, delay_s=0, max_depth=0, allowed_private_networks=["127.0.0.1/32"]
    )
    result = collect_documents("ev", SourcesConfig(crawl=config, use_inbox=False), folders=[])
    assert [d["source"] for d in result.documents] == [url]
    assert connect_log == [("127.0.0.1", site.port)]
    assert site.requested("/good.html")[-1]["Host"] == f"docs.test:{site.port}"


def test_environment_proxy_is_ignored(site, monkeypatch, crawl_config):
    """A proxy would connect for us and skip the address check, so HTTP(S)_PROXY must not be used."""
    monkeypatch.setenv("HTTP_PROXY", "http://10.255.255.1:3128")
    monkeypatch.setenv("ALL_PROXY", "http://10.255.255.1:3128")
    result = collect_documents(
        "ev", SourcesConfig(crawl=crawl_config([site.url("/good.html")]), use_inbox=False), folders=[]
    )
    assert len(result.documents) == 1 and result.failures == []
