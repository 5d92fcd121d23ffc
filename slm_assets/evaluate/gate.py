"""The promotion gate: a tuned model is promoted only when it beats base on the same questions by more than
noise, and does not parrot.

- Compared rows: `<model>_served` vs `base_served` (answers as the server gives them) when `gate_on: served` and
  the benchmark has them, else the closed-book rows.
- "Beats": the lower bound of a seeded paired bootstrap interval (95 %) of the per-question difference on the
  primary metric is above `min_improvement`.
- "Does not parrot": the model's own answers, closed and open book, restate the question in at most
  `max_echo_rate` of the questions.
"""

from slm_assets.evaluate.benchmark import BenchmarkResult, tuned_candidates
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


def echo_rate_of(result: BenchmarkResult, model: str) -> float:
    """The worst of the model's own closed- and open-book echo rates."""
    return max(result.models[n].echo_rate for n in (model, f"{model}_open_book") if n in result.models)


def promotion_gate(result: BenchmarkResult, config: BenchmarkConfig) -> dict:
    """primary_metric, best_model, compared (rows), improvement_over_base, interval, n_questions, echo_rate,
    passed and a verdict sentence saying why."""
    metric = config.primary_metric
    candidates = tuned_candidates(result)
    if not candidates:
        return {"primary_metric": metric, "best_model": None, "improvement_over_base": 0.0, "passed": False,
                "verdict": "no tuned model was scored"}
    best = max(candidates, key=lambda n: getattr(result.models[compared_row(result, n, config.gate_on)], metric))
    row = compared_row(result, best, config.gate_on)
    base_row = "base_served" if row.endswith("_served") else "base"
    gain, low, high = paired_bootstrap(per_question(result, row, metric), per_question(result, base_row, metric),
                                       config.bootstrap_resamples, config.seed)
    echo = echo_rate_of(result, best)
    beats, parrots = low > config.min_improvement, echo > config.max_echo_rate
    verdict = (f"{row} {metric} {getattr(result.models[row], metric):.4f} vs {base_row} "
               f"{getattr(result.models[base_row], metric):.4f}: {gain:+.4f}, 95% interval [{low:+.4f}, {high:+.4f}] "
               f"over {result.n_questions} questions (lower bound must exceed {config.min_improvement:+.4f}); "
               f"echo rate {echo:.3f} (at most {config.max_echo_rate:.3f})")
    reasons = ([] if beats else ["not better than base beyond noise"]) + (["parrots the question"] if parrots else [])
    verdict += "; " + ("passed" if not reasons else "refused: " + ", ".join(reasons))
    return {"primary_metric": metric, "best_model": best, "compared": [row, base_row],
            "improvement_over_base": gain, "interval": [low, high], "n_questions": result.n_questions,
            "echo_rate": echo, "passed": beats and not parrots, "verdict": verdict}
