"""The promotion gate: better than base (and, to become champion, than the re-scored champion) beyond noise on
the same questions, and no parroting."""

import pytest

from slm_assets.evaluate.benchmark import BenchmarkResult, ModelScores
from slm_assets.evaluate.champion import ChampionStatus
from slm_assets.evaluate.config import BenchmarkConfig
from slm_assets.evaluate.gate import paired_bootstrap, promotion_gate

CONFIG = BenchmarkConfig(min_improvement=0.0, max_echo_rate=0.05, gate_on="closed_book")


def scores(name: str, values: list[float], echo_rate: float = 0.0) -> ModelScores:
    mean = sum(values) / len(values)
    return ModelScores(name, mean, 0.1, 0.0, mean, 0.5, 0.9, 10.0, 0.1, 0.2, 50.0, echo_rate=echo_rate)


def result(per_model: dict[str, list[float]], echo: dict[str, float] | None = None) -> BenchmarkResult:
    n = len(next(iter(per_model.values())))
    rows = [{f"{name}_rouge_l": values[i] for name, values in per_model.items()} for i in range(n)]
    models = {name: scores(name, values, (echo or {}).get(name, 0.0)) for name, values in per_model.items()}
    return BenchmarkResult(n_questions=n, models=models, rows=rows)


def test_paired_bootstrap_is_seeded_and_brackets_the_mean_difference():
    a, b = [0.5, 0.6, 0.7, 0.4] * 10, [0.4, 0.5, 0.5, 0.4] * 10
    first, second = paired_bootstrap(a, b, seed=3), paired_bootstrap(a, b, seed=3)
    assert first == second
    mean, low, high = first
    assert mean == pytest.approx(0.1) and low < mean < high and low > 0


def test_a_clearly_better_model_is_promoted_with_its_interval():
    base = [0.2, 0.3, 0.1, 0.25] * 15
    gate = promotion_gate(result({"base": base, "lora_adapter": [v + 0.15 for v in base]}), CONFIG)
    assert gate["passed"] and gate["best_model"] == "lora_adapter"
    assert gate["interval"][0] > 0 and gate["n_questions"] == 60 and "passed" in gate["verdict"]


def test_a_candidate_only_noise_better_is_not_promoted():
    base = [0.2, 0.6, 0.1, 0.5, 0.3, 0.4] * 8
    noisy = [v + d for v, d in zip(base, [0.3, -0.28, 0.25, -0.27, 0.31, -0.29] * 8, strict=True)]
    gate = promotion_gate(result({"base": base, "lora_adapter": noisy}), CONFIG)
    assert gate["improvement_over_base"] > 0  # better on average ...
    assert not gate["passed"] and gate["interval"][0] <= 0  # ... but not beyond noise
    assert "not better than base beyond noise" in gate["verdict"]


def test_a_parroting_model_is_refused_even_when_it_scores_higher():
    base = [0.1, 0.15, 0.12, 0.08] * 15
    parrot = [v + 0.2 for v in base]
    gate = promotion_gate(result({"base": base, "lora_adapter": parrot}, echo={"lora_adapter": 0.3}), CONFIG)
    assert not gate["passed"] and gate["echo_rate"] == 0.3 and "parrots the question" in gate["verdict"]
    assert not gate["exportable"]


def test_a_model_no_better_than_base_is_exportable_but_not_passed():
    """Not beating base stops promotion, not export: the version is registered as a candidate."""
    base = [0.2, 0.6, 0.1, 0.5] * 10
    gate = promotion_gate(result({"base": base, "lora_adapter": list(base)}), CONFIG, ChampionStatus())
    assert gate["exportable"] and not gate["beats_base"] and not gate["passed"]
    assert gate["promotion"]["verdict"].endswith("not promoted: not better than base beyond noise")


SERVED = CONFIG.model_copy(update={"gate_on": "served"})


def served_run(echo: dict[str, float]) -> BenchmarkResult:
    """Served and open-book rows where the tuned model clearly beats base as served; only echo rates differ."""
    rows = {"base": [0.1] * 40, "lora_adapter": [0.1] * 40, "base_open_book": [0.2] * 40,
            "lora_adapter_open_book": [0.3] * 40, "base_served": [0.3] * 40, "lora_adapter_served": [0.5] * 40}
    return result(rows, echo=echo)


def test_in_served_mode_the_echo_guard_reads_open_book_and_served_answers_against_base():
    # closed-book echo above the limit is reported elsewhere but not served, so it does not stop the gate; an
    # open-book echo above the limit but below base's own (tuning made parroting rarer) does not either
    calm = promotion_gate(served_run({"lora_adapter": 0.3, "base": 0.1, "base_open_book": 0.18,
                                      "lora_adapter_open_book": 0.12, "lora_adapter_served": 0.01}), SERVED)
    assert calm["passed"] and not calm["parrots"]
    assert calm["echo_rows"]["lora_adapter_open_book"] == {"echo_rate": 0.12, "limit": 0.18}
    assert set(calm["echo_rows"]) == {"lora_adapter_open_book", "lora_adapter_served"}
    # more open-book parroting than both the limit and base: refused, and not exportable
    taught = promotion_gate(served_run({"base_open_book": 0.06, "lora_adapter_open_book": 0.38}), SERVED)
    assert taught["parrots"] and not taught["exportable"] and not taught["passed"]
    assert "parrots the question" in taught["verdict"] and "lora_adapter_open_book 0.380 (limit 0.060)" in taught[
        "echo_verdict"]
    # served answers that restate the question are caught even when the model's own open-book answers do not
    served = promotion_gate(served_run({"lora_adapter_served": 0.2}), SERVED)
    assert served["parrots"] and served["echo_rate"] == 0.2


def test_served_rows_decide_when_the_benchmark_has_them():
    base = [0.1] * 30
    closed = {"base": base, "lora_adapter": [0.3] * 30}  # better closed book ...
    served = {"base_served": [0.5] * 30, "lora_adapter_served": [0.4] * 30}  # ... worse as served
    gate = promotion_gate(result({**closed, **served}), CONFIG.model_copy(update={"gate_on": "served"}))
    assert gate["compared"] == ["lora_adapter_served", "base_served"] and not gate["passed"]


def test_the_gate_refuses_a_model_that_parrots_real_questions():
    """Answers that restate the question, scored the way the benchmark scores them, stop the gate."""
    from slm_assets.evaluate.benchmark import score_answers
    from slm_assets.generation import Generated

    questions = [f"What does the type {i} connector do at a public charging station?" for i in range(30)]
    rows = [{"qa_id": f"q{i}", "question": q, "answerable": True} for i, q in enumerate(questions)]
    table = [{"qa_id": r["qa_id"], "question": r["question"], "reference": "It carries AC power to the car."}
             for r in rows]
    parrot = [Generated(f"The type {i} connector does it at a public charging station.", 0.1, 10)
              for i in range(30)]
    plain = [Generated("AC power.", 0.1, 3) for _ in range(30)]
    models = {"base": score_answers("base", plain, rows, table, None, 5.0),
              "lora_adapter": score_answers("lora_adapter", parrot, rows, table, None, 5.0)}
    assert models["lora_adapter"].echo_rate == 1.0 and models["base"].echo_rate == 0.0
    gate = promotion_gate(BenchmarkResult(n_questions=30, models=models, rows=table), CONFIG)
    assert not gate["passed"] and "parrots the question" in gate["verdict"]


def champion_run(candidate: list[float], champion: list[float]) -> BenchmarkResult:
    """Base far below both, so the candidate always passes the base gate and only the champion can stop it."""
    return result({"base": [0.0] * len(champion), "lora_adapter": candidate, "champion": champion})


def _champion_scores(n: int = 80) -> list[float]:
    import random

    rng = random.Random(11)
    return [round(rng.uniform(0.3, 0.7), 4) for _ in range(n)]


def test_noise_candidate_same_answers_as_the_champion_plus_tiny_differences_is_not_promoted():
    """The noise-candidate gate test: the candidate gives the champion's answers except on a few questions, where
    it is a little better or a little worse at random; better on average, yet not promoted."""
    import random

    champion = _champion_scores()
    rng = random.Random(5)
    candidate = [v + (rng.choice([-0.04, -0.02, 0.03, 0.05]) if i % 8 == 0 else 0.0) for i, v in enumerate(champion)]
    assert sum(candidate) > sum(champion)  # noise-better on average
    gate = promotion_gate(champion_run(candidate, champion), CONFIG, ChampionStatus(version="3", source="bundle/adapter"))
    promotion = gate["promotion"]
    assert gate["passed"]  # it does beat base ...
    assert not promotion["passed"] and promotion["against"] == "champion v3"  # ... but not the champion
    assert promotion["compared"] == ["lora_adapter", "champion"] and promotion["n_questions"] == 80
    low, high = promotion["interval"]
    assert low <= 0 < high and "not promoted" in promotion["verdict"] and "over 80 questions" in promotion["verdict"]


def test_a_clearly_better_candidate_than_the_champion_is_promoted():
    champion = _champion_scores()
    candidate = [v + 0.08 + (0.02 if i % 3 else -0.03) for i, v in enumerate(champion)]
    promotion = promotion_gate(champion_run(candidate, champion), CONFIG, ChampionStatus(version="3", source="x"))[
        "promotion"]
    assert promotion["passed"] and promotion["interval"][0] > 0 and "promoted: beats champion v3" in promotion["verdict"]


def test_the_same_model_as_the_champion_is_not_promoted_and_min_improvement_raises_the_bar():
    champion = _champion_scores()
    same = promotion_gate(champion_run(list(champion), champion), CONFIG, ChampionStatus(version="2", source="x"))
    assert same["promotion"]["interval"] == [0.0, 0.0] and not same["promotion"]["passed"]
    better = [v + 0.05 for v in champion]
    strict = CONFIG.model_copy(update={"min_improvement": 0.1})
    assert not promotion_gate(champion_run(better, champion), strict, ChampionStatus(version="2", source="x"))[
        "promotion"]["passed"]


def test_a_champion_whose_files_are_missing_is_named_and_the_candidate_is_compared_with_base():
    champion = _champion_scores()
    run = result({"base": [v - 0.2 for v in champion], "lora_adapter": champion})  # no champion row: not loaded
    status = ChampionStatus(version="4", problem="missing files: neither /gone/adapter nor /gone/merged holds weights")
    promotion = promotion_gate(run, CONFIG, status)["promotion"]
    assert promotion["against"] == "base" and promotion["passed"] and promotion["champion"]["loaded"] is False
    assert "champion v4 could not be loaded (missing files" in promotion["verdict"]
    assert "compared with base" in promotion["verdict"]


def test_no_champion_yet_compares_with_base_and_a_failed_base_gate_is_never_promoted():
    champion = _champion_scores()
    first = promotion_gate(result({"base": [v - 0.2 for v in champion], "lora_adapter": champion}), CONFIG,
                           ChampionStatus())["promotion"]
    assert first["passed"] and first["against"] == "base" and "no champion registered yet" in first["verdict"]
    worse = promotion_gate(champion_run([0.0] * 80, champion), CONFIG, ChampionStatus(version="1", source="x"))
    assert not worse["passed"] and not worse["promotion"]["passed"]


def test_served_candidates_are_compared_with_the_served_champion():
    base = [0.1] * 30
    run = result({"base": base, "lora_adapter": [0.3] * 30, "champion": [0.3] * 30, "base_served": base,
                  "lora_adapter_served": [0.6] * 30, "champion_served": [0.4] * 30})
    promotion = promotion_gate(run, CONFIG.model_copy(update={"gate_on": "served"}),
                               ChampionStatus(version="1", source="x"))["promotion"]
    assert promotion["compared"] == ["lora_adapter_served", "champion_served"] and promotion["passed"]
    assert "champion" not in promotion_gate(run, CONFIG)["best_model"]  # the champion is never a candidate
