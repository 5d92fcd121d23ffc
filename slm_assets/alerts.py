"""Failed runs: one JSON line each in the warehouse, and, when a webhook is set, a JSON POST a person sees."""

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class RunFailure:
    run_id: str
    job: str
    domain: str | None
    steps: list[str]  # the failed steps (asset names); empty when the run failed outside a step
    error: str  # exception class and message, first lines only
    failed_at: str  # ISO 8601, UTC

    def summary(self) -> str:
        where = ", ".join(self.steps) or self.job
        return f"slm_assets: {where} failed for domain {self.domain or '-'}: {self.error.splitlines()[0]}"


def first_lines(text: str, n: int = 5, width: int = 2000) -> str:
    return "\n".join(text.strip().splitlines()[:n])[:width]


def record_failure(path: Path, failure: RunFailure) -> None:
    """Appends one line; appends of one short line do not interleave, so concurrent writers are safe."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(failure), ensure_ascii=False) + "\n")


def read_failures(path: Path) -> list[RunFailure]:
    if not path.exists():
        return []
    return [RunFailure(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def post_alert(url: str, failure: RunFailure, timeout_s: float = 10.0) -> int:
    """POSTs `{"text": one-line summary, ...the record}` (the `text` field is what Slack-style hooks show);
    raises httpx.HTTPError when the hook cannot be reached or answers with an error status."""
    import httpx

    response = httpx.post(url, json={"text": failure.summary(), **asdict(failure)}, timeout=timeout_s)
    response.raise_for_status()
    return response.status_code
