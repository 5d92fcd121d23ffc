"""Metric functions on known strings."""

import pytest

from slm_assets.evaluate.benchmark import reference_judge
from slm_assets.evaluate.metrics import corpus_bleu, exact_match, normalize, rouge_l, score_pair, token_f1


def test_normalize_and_exact_match():
    assert normalize("The  Type-2 plug!") == "type2 plug"
    assert exact_match("The type 2 plug.", "type 2 plug") == 1.0
    assert exact_match("type 2 socket", "type 2 plug") == 0.0


def test_token_f1_known_values():
    assert token_f1("level two charger", "level two charger") == 1.0
    assert token_f1("fast charger", "slow socket") == 0.0
    assert token_f1("a level two home charger", "level two charger") == pytest.approx(2 * (3 / 4) * 1 / (3 / 4 + 1))


def test_rouge_l_and_bleu_ranges_and_order():
    ref = "CCS2 supports up to 350 kW of DC power"
    assert rouge_l(ref, ref) == pytest.approx(1.0)
    close, far = "CCS2 supports 350 kW DC power", "bananas are yellow"
    assert rouge_l(close, ref) > rouge_l(far, ref) == 0.0
    assert corpus_bleu([ref], [ref]) == pytest.approx(1.0)
    assert 0.0 <= score_pair(close, ref)["bleu"] < 1.0


def test_identical_inputs_give_identical_numbers():
    assert score_pair("Type 2 is common in Europe", "Type 2 is the European standard") == score_pair(
        "Type 2 is common in Europe", "Type 2 is the European standard")


def test_reference_judge_counts_wins_losses_ties():
    rows = [
        {"reference": "type 2 plug", "tuned_answer": "type 2 plug", "base_answer": "banana"},
        {"reference": "level 2 charger", "tuned_answer": "potato", "base_answer": "level 2 charger"},
        {"reference": "dc fast", "tuned_answer": "dc fast", "base_answer": "dc fast"},
    ]
    judge = reference_judge(rows, "tuned", "base")
    assert (judge["wins"], judge["losses"], judge["ties"]) == (1, 1, 1)
    assert judge["judge"] == "reference_f1" and judge["performance_ratio"] == 1.0


def test_semantic_similarity_ranks_paraphrases_above_unrelated_answers():
    from slm_assets.evaluate.semantic import semantic_similarity

    ref = "A type B RCD detects smooth DC residual currents."
    close, far, empty = semantic_similarity(
        ["Type B residual current devices also trip on DC leakage.", "Bananas are rich in potassium.", ""], [ref] * 3)
    assert close > far + 0.3 and empty == 0.0
