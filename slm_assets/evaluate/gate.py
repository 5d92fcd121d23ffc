"""The promotion gate: a tuned model that parrots is never exported; one that does not is exported and registered
(alias `candidate`, so every version stays auditable), and becomes champion only when it beats base on the same
questions by more than noise and also beats the current champion, re-scored in the same run on the same questions.

- Compared rows: `<model>_served` vs `base_served` (answers as the server gives them) when `gate_on: served` and
  the benchmark has them, else the closed-book rows; the champion likewise (`champion_served` or `champion`).
- "Beats": the lower bound of a seeded paired bootstrap interval (95 %) of the per-question difference on the
  primary metric is above `min_improvement`. A candidate that differs from its rival only by noise (a few answers
  better, a few worse) has an interval reaching below the bar and is refused.
- "Does not parrot": in the mode the gate compares (served: the model's own open-book answers and its served
  answers; closed book: its closed-book answers), the model restates the question in at most `max_echo_rate` of the
  questions, or no more often than base does in the same mode. The second clause is what the guard is for: tuning
  must not teach parroting. Base itself restates 10 % of the demo's gold questions closed book and 18 % open book.
- No champion, or one whose files cannot be loaded: the promotion compares with base instead, and says so.
"""

from slm_assets.evaluate.benchmark import BenchmarkResult, tuned_candidates
from slm_assets.evaluate.champion import CHAMPION, ChampionStatus
from slm_assets.evaluate.config import BenchmarkConfig


def paired_bootstrap(a: list[float], b: list[float], resamples: int = 1000, seed: int = 0,
                     confidence: float = 0.95) -> tuple[float, float, float]:
    """(mean of a - b, lower, upper) percentile interval over resampled questions."""
    import numpy as np

    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(diff) == 0:
        return 0.0, 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    return float(diff.mean()), float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))


def compared_row(result: BenchmarkResult, model: str, gate_on: str) -> str:
    served = f"{model}_served"
    return served if gate_on == "served" and served in result.models and "base_served" in result.models else model


def per_question(result: BenchmarkResult, row: str, metric: str) -> list[float]:
    return [float(r.get(f"{row}_{metric}", 0.0)) for r in result.rows]


def echo_check(result: BenchmarkResult, model: str, row: str, max_echo_rate: float) -> dict:
    """Does `model` parrot in the mode of its compared `row`: echo_rate (the worst of the mode's rows), parrots
    (some row above both `max_echo_rate` and base's same row) and the rows with their rates and limits."""
    rows = [f"{model}_open_book", f"{model}_served"] if row.endswith("_served") else [model]
    checked = {}
    for name in (n for n in rows if n in result.models):
        base = result.models.get(name.replace(model, "base", 1))
        limit = max(max_echo_rate, base.echo_rate if base is not None else 0.0)
        checked[name] = {"echo_rate": result.models[name].echo_rate, "limit": limit}
    worst = max((c["echo_rate"] for c in checked.values()), default=0.0)
    return {"echo_rate": worst, "parrots": any(c["echo_rate"] > c["limit"] for c in checked.values()),
            "rows": checked}


def compare(result: BenchmarkResult, row: str, rival: str, config: BenchmarkConfig) -> dict:
    """`row` against `rival` on the primary metric, question by question: mean difference, interval, and whether
    the interval's lower bound clears `min_improvement`."""
    metric = config.primary_metric
    gain, low, high = paired_bootstrap(per_question(result, row, metric), per_question(result, rival, metric),
                                       config.bootstrap_resamples, config.seed)
    text = (f"{row} {metric} {getattr(result.models[row], metric):.4f} vs {rival} "
            f"{getattr(result.models[rival], metric):.4f}: {gain:+.4f}, 95% interval [{low:+.4f}, {high:+.4f}] "
            f"over {result.n_questions} questions (lower bound must exceed {config.min_improvement:+.4f})")
    return {"compared": [row, rival], "gain": gain, "interval": [low, high], "n_questions": result.n_questions,
            "beats": low > config.min_improvement, "text": text}


def promotion_gate(result: BenchmarkResult, config: BenchmarkConfig, champion: ChampionStatus | None = None) -> dict:
    """primary_metric, best_model, compared (rows), improvement_over_base, interval, n_questions, echo_rate and
    echo_rows, parrots, exportable (not parroting: exported and registered), beats_base, passed (beats base and
    does not parrot), a verdict sentence saying why, and echo_verdict (the echo guard's part of it). With a
    `champion` status (the benchmark_report asset always gives one), `promotion`: whether the candidate should
    become champion (see `promotion_versus_champion`)."""
    metric = config.primary_metric
    candidates = tuned_candidates(result)
    if not candidates:
        return {"primary_metric": metric, "best_model": None, "improvement_over_base": 0.0, "passed": False,
                "exportable": False, "verdict": "no tuned model was scored",
                **({} if champion is None else {"promotion": {"passed": False, "against": None,
                                                              "champion": champion.as_dict(),
                                                              "verdict": "no tuned model was scored"}})}
    best = max(candidates, key=lambda n: getattr(result.models[compared_row(result, n, config.gate_on)], metric))
    row = compared_row(result, best, config.gate_on)
    base_row = "base_served" if row.endswith("_served") else "base"
    versus_base = compare(result, row, base_row, config)
    echo = echo_check(result, best, row, config.max_echo_rate)
    parrots = echo["parrots"]
    rates = ", ".join(f"{name} {c['echo_rate']:.3f} (limit {c['limit']:.3f})" for name, c in echo["rows"].items())
    echo_verdict = (f"{best} echo rate {rates or 'not measured'}: "
                    + ("parrots the question" if parrots else "does not parrot"))
    verdict = f"{versus_base['text']}; echo rate {rates or 'not measured'}"
    reasons = ([] if versus_base["beats"] else ["not better than base beyond noise"]) + (
        ["parrots the question"] if parrots else [])
    verdict += "; " + ("passed" if not reasons else "refused: " + ", ".join(reasons))
    passed = versus_base["beats"] and not parrots
    return {"primary_metric": metric, "best_model": best, "compared": versus_base["compared"],
            "improvement_over_base": versus_base["gain"], "interval": versus_base["interval"],
            "n_questions": result.n_questions, "echo_rate": echo["echo_rate"], "echo_rows": echo["rows"],
            "parrots": parrots, "exportable": not parrots, "beats_base": versus_base["beats"], "passed": passed,
            "verdict": verdict, "echo_verdict": echo_verdict,
            **({} if champion is None else {"promotion": promotion_versus_champion(
                result, config, row, champion, versus_base, passed)})}


def promotion_versus_champion(result: BenchmarkResult, config: BenchmarkConfig, row: str, champion: ChampionStatus,
                              versus_base: dict, passed_base: bool) -> dict:
    """Should the candidate's `row` become champion: it must pass the base gate and beat the champion's same row,
    scored in this run, beyond noise. Without a scored champion the base comparison decides. Keys: against,
    champion, compared, gain, interval, n_questions, passed, verdict."""
    rival = CHAMPION + ("_served" if row.endswith("_served") else "")
    if champion.loaded and rival not in result.models:
        champion = ChampionStatus(version=champion.version, problem=f"the benchmark has no `{rival}` row")
    comparison = compare(result, row, rival, config) if champion.loaded else versus_base
    against = f"champion v{champion.version}" if champion.loaded else "base"
    passed = passed_base and comparison["beats"]
    if passed:
        outcome = f"promoted: beats {against} beyond noise"
    elif not versus_base["beats"]:
        outcome = "not promoted: not better than base beyond noise"
    elif not passed_base:
        outcome = "not promoted: the candidate parrots the question"
    else:
        outcome = f"not promoted: not better than {against} beyond noise"
    return {"against": against, "champion": champion.as_dict(), "compared": comparison["compared"],
            "gain": comparison["gain"], "interval": comparison["interval"], "n_questions": comparison["n_questions"],
            "passed": passed, "verdict": f"{champion.describe()}; {comparison['text']}; {outcome}"}
