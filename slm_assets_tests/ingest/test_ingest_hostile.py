"""Hostile inputs, one test each: each ends as a recorded failure while the good page of the same crawl is kept.

Every crawl runs through `collect_documents`, so fetch, policy, robots and parse failures are all
checked where the pipeline records them. `connect_log` proves the crawler never opened a socket to
anything but the test server (127.0.0.1), whatever a redirect said.
"""

import time
from dataclasses import dataclass, field

import pytest

from slm_assets.ingest.collect import collect_documents
from slm_assets.ingest.config import SourcesConfig

# Hosts the operator "allowed" in the address-policy cases, so the address policy (not the host
# list) is what refuses them.
POLICY_HOSTS = ["127.0.0.1", "169.254.169.254", "fd00:ec2::254", "metadata.google.internal", "10.0.0.1"]


@dataclass(frozen=True)
class Hostile:
    path: str
    stage: str
    reason: str  # must appear in the recorded reason
    overrides: dict = field(default_factory=dict)


HOSTILE = {
    "corrupt-pdf-truncated": Hostile("/corrupt.pdf", "parse", "corrupt PDF: truncated"),
    "corrupt-pdf-garbage-body": Hostile("/garbage.pdf", "parse", "corrupt PDF"),
    "encrypted-pdf": Hostile("/encrypted.pdf", "parse", "encrypted PDF: a password is required"),
    "zero-byte-pdf": Hostile("/empty.pdf", "parse", "empty file (0 bytes)"),
    "image-only-pdf": Hostile("/scanned.pdf", "parse", "no text layer on any of 2 pages (scanned or image-only"),
    "size-cap-streamed": Hostile("/huge.html", "fetch", "larger than the max_bytes cap of 300,000"),
    "size-cap-declared-length": Hostile("/huge-declared.html", "fetch", "Content-Length 50,000,000 bytes is over"),
    "gzip-bomb": Hostile("/gzip-bomb.html", "fetch", "larger than the max_bytes cap"),
    "http-404": Hostile("/missing.html", "fetch", "HTTP 404"),
    "http-500": Hostile("/error", "fetch", "HTTP 500"),
    # read timeout far above the deadline: the deadline, not the read timeout, must end these
    "stalled-trickling-body": Hostile("/stall-body.html", "fetch", "total deadline of 1 s exceeded", {"read_timeout_s": 30}),
    "stalled-no-headers": Hostile("/stall-headers.html", "fetch", "total deadline of 1 s exceeded", {"read_timeout_s": 30}),
    "redirect-loop": Hostile("/loop/a", "fetch", "redirect loop"),
    "too-many-redirects": Hostile("/chain/5", "fetch", "too many redirects (more than 3)"),
    "redirect-to-metadata-ip": Hostile(
        "/redirect-metadata", "policy", "169.254.169.254: a cloud metadata address", {"allowed_hosts": POLICY_HOSTS}),
    "redirect-to-metadata-ip-private-allowed": Hostile(
        "/redirect-metadata", "policy", "cloud metadata address (always refused)",
        {"allowed_hosts": POLICY_HOSTS, "allow_private_hosts": True}),
    "redirect-to-metadata-ipv6": Hostile(
        "/redirect-metadata-v6", "policy", "fd00:ec2::254: a cloud metadata address",
        {"allowed_hosts": POLICY_HOSTS, "allow_private_hosts": True}),
    "redirect-to-metadata-hostname": Hostile(
        "/redirect-metadata-name", "policy", "metadata.google.internal is a cloud metadata name",
        {"allowed_hosts": POLICY_HOSTS, "allow_private_hosts": True}),
    "redirect-to-private-ip": Hostile(
        "/redirect-private", "policy", "10.0.0.1: a private address (allow_private_hosts is false)",
        {"allowed_hosts": POLICY_HOSTS}),
    "redirect-off-allowed-hosts": Hostile("/redirect-offhost", "policy", "host localhost is not in the allowed hosts"),
    "redirect-to-file-url": Hostile("/redirect-file", "policy", "redirect to a non-http(s) URL 'file:///etc/passwd'"),
    "redirect-without-location": Hostile("/redirect-no-location", "fetch", "redirect without a Location header"),
    "robots-disallowed-path": Hostile("/private/secret.html", "robots", "disallowed by robots.txt"),
    "redirect-into-robots-disallowed": Hostile("/redirect-robots", "robots", "disallowed by robots.txt"),
    "binary-served-as-html": Hostile("/binary.html", "policy", "binary content (PNG image) served as text/html"),
    "nul-bytes-served-as-html": Hostile("/nul.html", "policy", "binary content (NUL bytes) served as text/html"),
    "unsupported-content-type-png": Hostile("/image.png", "policy", "unsupported content type image/png"),
    "no-content-type-unknown-bytes": Hostile("/no-type", "policy", "unsupported content type unknown"),
    "script-and-nav-only-page": Hostile("/scripts-only.html", "parse", "no text content"),
    "html-nested-5000-deep": Hostile("/deep-nesting.html", "parse", "HTML nested too deeply"),
}


def crawl(crawl_config, seeds: list[str], known_validators: dict | None = None, **overrides):
    sources = SourcesConfig(crawl=crawl_config(seeds, **overrides), use_inbox=False)
    return collect_documents("ev_charging", sources, folders=[], known_validators=known_validators)


@pytest.mark.parametrize("case", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_input_is_recorded_and_good_page_kept(case: Hostile, site, crawl_config, connect_log):
    hostile, good = site.url(case.path), site.url("/good.html")
    started = time.monotonic()
    result = crawl(crawl_config, [hostile, good], **case.overrides)
    elapsed = time.monotonic() - started

    failures = {f["source"]: f for f in result.failures}
    assert hostile in failures, f"no failure recorded; documents={[d['source'] for d in result.documents]}"
    assert failures[hostile]["stage"] == case.stage, failures[hostile]
    assert case.reason in failures[hostile]["reason"], failures[hostile]["reason"]
    assert [d["source"] for d in result.documents] == [good]
    assert {address[0] for address in connect_log} <= {"127.0.0.1"}, connect_log
    assert elapsed < 5, f"hostile route held the crawl for {elapsed:.1f} s"


def test_robots_txt_disallowed_page_is_never_requested(site, crawl_config):
    crawl(crawl_config, [site.url("/private/secret.html"), site.url("/redirect-robots")])
    assert site.requested("/private/secret.html") == []


def test_robots_5xx_disallows_only_that_host(site, broken_robots_site, crawl_config):
    blocked, good = broken_robots_site.url("/good.html"), site.url("/good.html")
    asked_before = len(broken_robots_site.requested("/good.html"))  # the server is shared by the session
    result = crawl(crawl_config, [blocked, good])
    failure = next(f for f in result.failures if f["source"] == blocked)
    assert failure["stage"] == "robots"
    assert "robots.txt unreachable" in failure["reason"] and "HTTP 503" in failure["reason"]
    assert [d["source"] for d in result.documents] == [good]
    assert len(broken_robots_site.requested("/good.html")) == asked_before


@pytest.mark.parametrize("path", ["/latin1.html", "/cp1252-meta.html"], ids=["header-charset", "meta-charset"])
def test_non_utf8_page_decodes(path, site, crawl_config):
    result = crawl(crawl_config, [site.url(path)])
    assert result.failures == []
    (document,) = result.documents
    assert "Électricité et recharge: la borne délivre une puissance élevée" in document["text"]


def test_same_page_under_two_urls_is_fetched_twice_and_stored_once(site, crawl_config):
    result = crawl(crawl_config, [site.url("/dup-a.html"), site.url("/dup-b.html"), site.url("/good.html")])
    assert len(site.requested("/dup-a.html")) >= 1 and len(site.requested("/dup-b.html")) >= 1
    assert result.duplicates == 1
    assert len(result.documents) == 2 and result.failures == []


def test_304_with_etag_is_not_modified(site, crawl_config):
    url = site.url("/etag.html")
    first = crawl(crawl_config, [url])
    (document,) = first.documents
    assert document["etag"] == '"v1"' and document["last_modified"].startswith("Mon, 02 Jun 2025")

    second = crawl(crawl_config, [url, site.url("/good.html")], known_validators={url: {"etag": '"v1"'}})
    assert second.unchanged_urls == [url]
    assert [d["source"] for d in second.documents] == [site.url("/good.html")]
    assert site.requested("/etag.html")[-1].get("If-None-Match") == '"v1"'


def test_link_deeper_than_max_depth_is_not_followed(site, crawl_config):
    result = crawl(crawl_config, [site.url("/deep/1.html")], max_depth=1)
    assert [d["source"] for d in result.documents] == [site.url("/deep/1.html"), site.url("/deep/2.html")]
    assert site.requested("/deep/3.html") == []


def test_seed_that_is_not_http_is_a_policy_failure(site, crawl_config):
    result = crawl(crawl_config, ["ftp://127.0.0.1/file.txt", "http://[::1", site.url("/good.html")])
    reasons = {f["source"]: (f["stage"], f["reason"]) for f in result.failures}
    assert reasons["ftp://127.0.0.1/file.txt"] == ("policy", "not an absolute http(s) URL")
    assert reasons["http://[::1"][0] == "policy"
    assert len(result.documents) == 1
