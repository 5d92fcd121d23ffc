"""Registry versions, aliases and the promotion decision on MLflow with SQLite."""

from mlflow.tracking import MlflowClient

from slm_assets.export.registry import promote_if_it_won, register_version


def decision(passed: bool, champion: str | None, against: str = "base") -> dict:
    """What benchmark_report writes under `promotion` (gate.promotion_versus_champion)."""
    return {"passed": passed, "against": against, "champion": {"version": champion},
            "verdict": f"{'promoted' if passed else 'not promoted'} against {against}"}


def test_versions_aliases_and_champion_moves_only_on_a_win(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    bundle = (tmp_path / "bundle").as_uri()

    v1 = register_version(client, "slm-x", bundle, None, {"benchmark.rouge_l": "0.30"})
    assert client.get_model_version_by_alias("slm-x", "candidate").version == int(v1)
    promoted, why = promote_if_it_won(client, "slm-x", v1, decision(False, None))
    assert not promoted and "not promoted against base" in why  # the first version must beat base

    v2 = register_version(client, "slm-x", bundle, None, {"benchmark.rouge_l": "0.40"})
    promoted, why = promote_if_it_won(client, "slm-x", v2, decision(True, None))
    assert promoted and client.get_model_version_by_alias("slm-x", "champion").version == int(v2)

    v3 = register_version(client, "slm-x", bundle, None, {"benchmark.rouge_l": "0.38"})
    promoted, why = promote_if_it_won(client, "slm-x", v3, decision(False, "2", "champion v2"))
    assert not promoted and "champion v2" in why
    assert client.get_model_version_by_alias("slm-x", "champion").version == int(v2)
    assert client.get_model_version_by_alias("slm-x", "candidate").version == int(v3)
    assert [int(v.version) for v in client.search_model_versions("name = 'slm-x'")] == [3, 2, 1]


def test_a_decision_against_a_champion_that_has_since_moved_does_not_promote(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    bundle = (tmp_path / "bundle").as_uri()
    v1 = register_version(client, "slm-x", bundle, None, {})
    assert promote_if_it_won(client, "slm-x", v1, decision(True, None))[0]
    v2 = register_version(client, "slm-x", bundle, None, {})
    # benchmarked before v1 became champion (against base): it never beat v1, so it must not replace it
    promoted, why = promote_if_it_won(client, "slm-x", v2, decision(True, None))
    assert not promoted and "champion is v1 now" in why
    assert client.get_model_version_by_alias("slm-x", "champion").version == int(v1)
    assert not promote_if_it_won(client, "slm-x", v2, None)[0]
