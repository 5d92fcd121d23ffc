"""Registry versions, aliases and the promotion gate on MLflow with SQLite."""

from mlflow.tracking import MlflowClient

from slm_assets.export.registry import maybe_promote, register_version


def test_versions_aliases_and_champion_moves_only_on_a_win(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    bundle = (tmp_path / "bundle").as_uri()

    v1 = register_version(client, "slm-x", bundle, None, {"benchmark.rouge_l": "0.30"})
    assert client.get_model_version_by_alias("slm-x", "candidate").version == int(v1)
    promoted, why = maybe_promote(client, "slm-x", v1, "rouge_l", 0.30, base_score=0.35)
    assert not promoted and "does not beat base" in why  # the first version must beat base

    v2 = register_version(client, "slm-x", bundle, None, {"benchmark.rouge_l": "0.40"})
    promoted, why = maybe_promote(client, "slm-x", v2, "rouge_l", 0.40, base_score=0.35)
    assert promoted and client.get_model_version_by_alias("slm-x", "champion").version == int(v2)

    v3 = register_version(client, "slm-x", bundle, None, {"benchmark.rouge_l": "0.38"})
    promoted, why = maybe_promote(client, "slm-x", v3, "rouge_l", 0.38, base_score=0.35)
    assert not promoted and "champion v2" in why
    assert client.get_model_version_by_alias("slm-x", "champion").version == int(v2)
    assert client.get_model_version_by_alias("slm-x", "candidate").version == int(v3)
    assert [int(v.version) for v in client.search_model_versions("name = 'slm-x'")] == [3, 2, 1]
