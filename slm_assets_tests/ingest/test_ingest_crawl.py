"""The crawler's ordinary behaviour: links, depth, sitemaps, limits, politeness, the result types."""

import time

import pytest

from slm_assets.ingest import web
from slm_assets.ingest.crawl_policy import extract_links, normalize_url, sitemap_entries
from slm_assets.ingest.documents import IngestFailure
from slm_assets.ingest.web import FetchedPage, fetch_pages


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM:80/a/../b?q=1#frag", "http://example.com/b?q=1"),
        ("https://example.com:443", "https://example.com/"),
        ("https://user:pw@example.com:8443/x", "https://example.com:8443/x"),
        ("mailto:someone@example.com", None),
        ("javascript:alert(1)", None),
        ("ftp://example.com/file", None),
        ("http://[::1", None),
        ("http://example.com:99999/", None),
        ("https://Bücher.example/ä", "https://xn--bcher-kva.example/ä"),
    ],
)
def test_normalize_url(raw, expected):
    assert normalize_url(raw) == expected


def test_extract_links_resolves_base_and_skips_nofollow():
    html = (
        "<html><head><base href='https://docs.example.com/guide/'></head><body>"
        "<a href='install.html#step-2'>a</a><a href='/faq'>b</a><a href='install.html'>dup</a>"
        "<a rel='nofollow' href='/login'>c</a><a href='mailto:x@y.z'>d</a></body></html>"
    )
    assert extract_links(html, "https://docs.example.com/") == [
        "https://docs.example.com/guide/install.html",
        "https://docs.example.com/faq",
    ]
    assert extract_links("<meta name='robots' content='nofollow'><a href='/x'>x</a>", "https://a.example/") == []


def test_sitemap_entries_reads_locs_and_indexes():
    urlset = b"<urlset><url><loc> https://a.example/x?a=1&amp;b=2 </loc></url><url><loc>nope</loc></url></urlset>"
    assert sitemap_entries(urlset) == (["https://a.example/x?a=1&b=2"], [])
    index = b"<sitemapindex><sitemap><loc>https://a.example/s1.xml</loc></sitemap></sitemapindex>"
    assert sitemap_entries(index) == ([], ["https://a.example/s1.xml"])


def test_links_followed_within_allowed_hosts(site, crawl_config):
    items = list(fetch_pages(crawl_config([site.url("/index.html")], max_depth=1)))
    pages = {i.url: i for i in items if isinstance(i, FetchedPage)}
    assert set(pages) == {site.url("/index.html"), site.url("/good2.html"), site.url("/deep/1.html")}
    assert pages[site.url("/good2.html")].depth == 1
    failures = {i.source: i for i in items if isinstance(i, IngestFailure)}
    assert failures[site.url("/private/secret.html")].stage == "robots"  # linked, but disallowed
    assert site.requested("/nofollow.html") == []


def test_redirected_page_carries_its_final_url(site, crawl_config):
    (page,) = [i for i in fetch_pages(crawl_config([site.url("/chain/2")])) if isinstance(i, FetchedPage)]
    assert page.url == site.url("/chain/2") and page.final_url == site.url("/chain/0")


def test_sitemap_adds_pages_on_allowed_hosts(site, crawl_config):
    items = list(fetch_pages(crawl_config([site.url("/good.html")], use_sitemap=True)))
    assert {i.url for i in items if isinstance(i, FetchedPage)} == {site.url("/good.html"), site.url("/good2.html")}
    assert not [i for i in items if isinstance(i, IngestFailure)]


def test_max_pages_bounds_the_crawl(site, crawl_config):
    items = list(fetch_pages(crawl_config([site.url("/index.html")], max_depth=3, max_pages=2)))
    assert len(items) == 2


def test_per_host_delay_spaces_requests(site, crawl_config):
    seeds = [site.url("/good.html"), site.url("/good2.html")]
    started = time.monotonic()
    items = list(fetch_pages(crawl_config(seeds, delay_s=0.25)))
    elapsed = time.monotonic() - started
    assert len(items) == 2
    assert elapsed >= 0.5  # robots.txt, then two pages: two gaps of 0.25 s


@pytest.mark.parametrize(("concurrency", "same_host", "at_least", "at_most"), [
    (2, False, 0.5, 0.99),  # two hosts at once: both 0.5 s pages in about 0.5 s (serial is >= 1.0 s)
    (1, False, 1.0, 9.0),  # concurrency 1: one after the other
    (2, True, 1.0, 9.0),  # one host: never two requests to it at once, whatever the concurrency
], ids=["two-hosts-in-parallel", "concurrency-1", "one-host-serial"])
def test_concurrency_is_per_host_and_bounded(site, crawl_config, fake_dns,
                                            concurrency, same_host, at_least, at_most):
    """Politeness is per host name; `other.test` is a second name for the test server."""
    fake_dns("other.test", ["127.0.0.1"])
    seeds = [site.url("/slow.html"), site.url("/slow2.html", host=None if same_host else "other.test")]
    config = crawl_config(seeds, concurrency=concurrency, obey_robots=False, allowed_hosts=["127.0.0.1", "other.test"])
    started = time.monotonic()
    items = list(fetch_pages(config))
    elapsed = time.monotonic() - started
    assert len([i for i in items if isinstance(i, FetchedPage)]) == 2
    assert at_least <= elapsed <= at_most, elapsed


def test_consumer_may_stop_early(site, crawl_config):
    """One host is fetched one page at a time: when the consumer stops after the first page, the other seeds are
    never requested."""
    later = ("/good2.html", "/chain/3")
    before = {path: len(site.requested(path)) for path in later}  # the site is shared by the whole session
    pages = fetch_pages(crawl_config([site.url("/good.html"), *(site.url(path) for path in later)]))
    first = next(pages)
    pages.close()  # shuts the pool down and closes the client without raising
    assert isinstance(first, FetchedPage) and first.url == site.url("/good.html")
    time.sleep(0.2)  # room for a wrongly started fetch to reach the server
    assert {path: len(site.requested(path)) for path in later} == before


def test_unexpected_error_in_one_page_does_not_end_the_crawl(site, crawl_config, monkeypatch):
    def broken(html_text, base_url):
        raise RuntimeError("link extractor bug")

    monkeypatch.setattr(web, "extract_links", broken)
    items = list(fetch_pages(crawl_config([site.url("/index.html"), site.url("/doc.pdf")], max_depth=1)))
    failure = next(i for i in items if isinstance(i, IngestFailure))
    assert failure.source == site.url("/index.html") and "unexpected RuntimeError: link extractor bug" in failure.reason
    assert [i.url for i in items if isinstance(i, FetchedPage)] == [site.url("/doc.pdf")]
