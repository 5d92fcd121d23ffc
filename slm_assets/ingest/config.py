"""What a domain reads: URLs to crawl and local folders."""

import ipaddress

from pydantic import BaseModel, Field, field_validator


class CrawlConfig(BaseModel):
    """Limits for fetching a domain's URLs; polite and bounded by default."""

    seed_urls: list[str] = Field(default_factory=list, description="Pages to start from, e.g. [https://example.org/guide/].")
    allowed_hosts: list[str] = Field(
        default_factory=list, description="Hosts the crawler may visit; empty means the seeds' hosts."
    )
    max_depth: int = Field(default=1, ge=0, description="Link depth followed from a seed (0 = seeds only).")
    max_pages: int = Field(default=200, ge=1, description="Pages fetched per run at most.")
    use_sitemap: bool = Field(default=False, description="Also read /sitemap.xml of each seed host.")
    user_agent: str = Field(
        default="slm-assets-bot/0.1 (+https://example.invalid/bot)",
        description="Sent with every request and matched against robots.txt; name a contact page of yours.")
    obey_robots: bool = Field(default=True, description="Honour robots.txt for the user agent.")
    delay_s: float = Field(default=1.0, ge=0, description="Pause between requests to one host.")
    concurrency: int = Field(default=4, ge=1, description="Hosts fetched in parallel.")
    connect_timeout_s: float = Field(default=10.0, gt=0, description="Seconds to open a connection.")
    read_timeout_s: float = Field(default=20.0, gt=0, description="Seconds to wait for the next bytes of a response.")
    max_bytes: int = Field(default=10_000_000, gt=0, description="Response size cap, enforced while streaming.")
    max_redirects: int = Field(default=5, ge=0, description="Redirect hops followed per URL; each hop is checked "
                               "against the allowed hosts and address policy.")
    allow_private_hosts: bool = Field(
        default=False,
        description="Allow loopback/private addresses (tests and intranet sources). Cloud metadata stays refused.",
    )
    allowed_private_networks: list[str] = Field(
        default_factory=list,
        description=(
            "CIDR blocks reachable even when allow_private_hosts is false, e.g. an intranet docs server's "
            "'10.1.2.0/24' (tests use '127.0.0.1/32'). Everything else private stays refused; cloud metadata always."
        ),
    )
    total_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Deadline for one HTTP request (each redirect hop): connect, headers and body together. "
            "A server that stalls or trickles bytes is cut off here, whatever the read timeout."
        ),
    )

    @field_validator("allowed_private_networks")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # raises ValueError naming the bad entry
        return value


class SourcesConfig(BaseModel):
    """Where a domain's documents come from."""

    folders: list[str] = Field(
        default_factory=list,
        description="Local folders (relative to the project root or absolute) of .html .htm .md .rst .txt .pdf, "
        "e.g. [docs/my_domain].",
    )
    crawl: CrawlConfig = Field(default_factory=CrawlConfig, description="URLs and crawl limits.")
    use_inbox: bool = Field(default=True, description="Also read warehouse/inbox/<domain>/.")
