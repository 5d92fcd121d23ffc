"""The `serve` command: registry to running app (uvicorn replaced by a background server), and its errors."""

import shutil

import httpx
import pytest
import typer
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

import slm_assets.serve.server as server_module
from slm_assets.export.modelfile import write_modelfile
from slm_assets.export.registry import register_version
from slm_assets.serve.command import serve
from slm_assets_tests.serve.helpers import API_KEY

app = typer.Typer()
app.command("serve")(serve)
app.command("noop")(lambda: None)  # two commands: typer then expects the command name, as in cli.py


@pytest.fixture
def registered(tmp_path, tiny_gguf, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("SLM_MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("SLM_WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    monkeypatch.delenv("SLM_API_KEYS", raising=False)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    shutil.copy(tiny_gguf, bundle / "tiny-q8_0.gguf")
    write_modelfile("tiny-q8_0.gguf", bundle, "You answer questions about tiny models.")
    client = MlflowClient(uri, registry_uri=uri)
    version = register_version(client, "slm-tiny", bundle.as_uri(), None, {"bundle": str(bundle)})
    client.set_registered_model_alias("slm-tiny", "champion", version)
    return tmp_path


def test_serve_resolves_the_champion_and_serves_it(registered, monkeypatch):
    keys = registered / "keys.txt"
    keys.write_text(f"{API_KEY}\n")
    seen = {}

    def fake_run_server(app, host, port):  # instead of blocking in uvicorn: query the app over HTTP once
        with server_module.background_server(app) as url:
            seen["models"] = httpx.get(f"{url}/v1/models", headers={"x-api-key": API_KEY}).json()
            seen["chat"] = httpx.post(f"{url}/v1/chat/completions", headers={"x-api-key": API_KEY}, json={
                "model": "slm-tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}).json()
        seen["where"] = (host, port)

    monkeypatch.setattr(server_module, "run_server", fake_run_server)
    result = CliRunner().invoke(app, ["serve", "--domain", "tiny", "--no-base", "--backend", "llama",
                                      "--api-keys-file", str(keys), "--port", "8123"])

    assert result.exit_code == 0, result.output
    assert [(m["id"], m["version"]) for m in seen["models"]["data"]] == [("slm-tiny", "1")]
    assert seen["chat"]["usage"]["completion_tokens"] == 2
    assert seen["where"] == ("127.0.0.1", 8123)


def test_serve_refuses_to_start_without_keys_or_model(registered, monkeypatch):
    no_keys = CliRunner().invoke(app, ["serve", "--domain", "tiny"])
    assert no_keys.exit_code == 2 and "no API keys" in no_keys.output

    monkeypatch.setenv("SLM_API_KEYS", API_KEY)
    missing = CliRunner().invoke(app, ["serve", "--domain", "other"])
    assert missing.exit_code == 1 and "no registered model 'slm-other'" in missing.output
    no_alias = CliRunner().invoke(app, ["serve", "--domain", "tiny", "--alias", "staging"])
    assert no_alias.exit_code == 1 and "no alias 'staging'" in no_alias.output
