"""The command line: scaffolding a domain, listing domains, errors that name the input."""

import pytest
from typer.testing import CliRunner

from slm_assets.cli import app
from slm_assets.domains import load_domain

runner = CliRunner()


def test_init_domain_scaffolds_a_valid_domain(tmp_path, monkeypatch):
    monkeypatch.setenv("SLM_DOMAINS_DIR", str(tmp_path))
    result = runner.invoke(app, ["init-domain", "Residential heat pumps", "--name", "heat_pumps"])
    assert result.exit_code == 0, result.output
    spec = load_domain("heat_pumps", tmp_path)
    assert spec.topic == "Residential heat pumps" and spec.sources.folders == []
    again = runner.invoke(app, ["init-domain", "Residential heat pumps", "--name", "heat_pumps"])
    assert again.exit_code == 2 and "already exists" in again.output
    derived = runner.invoke(app, ["init-domain", "Solar PV inverters & batteries"])
    assert derived.exit_code == 0 and (tmp_path / "solar_pv_inverters_batteries.yaml").exists()
    listed = runner.invoke(app, ["domains"])
    assert "heat_pumps: Residential heat pumps" in listed.output


def test_bad_name_and_unknown_domain_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("SLM_DOMAINS_DIR", str(tmp_path))
    bad = runner.invoke(app, ["init-domain", "x", "--name", "Bad-Name"])
    assert bad.exit_code == 2 and "must match" in bad.output
    missing = runner.invoke(app, ["lineage", "nowhere"])
    assert missing.exit_code != 0 and "nowhere" in str(missing.output) + str(missing.exception)


VERDICTS = {
    "promoted": ("2", True, "champion v1 re-scored; gain +0.031 [+0.012, +0.050] on 48 questions; promoted: beats "
                            "champion v1 beyond noise"),
    "noise": ("3", False, "gain +0.004 [-0.010, +0.019] on 48 questions; not promoted: not better than champion v2 "
                          "beyond noise"),
    "parity": ("not registered", False, "parity failed: not registered"),
}


@pytest.mark.parametrize("case", VERDICTS)
def test_materialize_says_which_version_was_registered_and_why_it_is_or_is_not_champion(case):
    import dagster as dg

    from slm_assets.cli import _registry_lines

    version, champion, why = VERDICTS[case]

    @dg.asset(name="gguf_export")
    def export() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"registered_model": "slm-ev", "version": version,
                                              "champion": champion, "promotion": why})

    expected = {"promoted": f"registry: slm-ev v2 is champion: {why}",
                "noise": f"registry: slm-ev v3 is candidate, not champion: {why}",
                "parity": f"registry: not registered ({why})"}[case]
    assert _registry_lines(dg.materialize([export])) == [expected]
