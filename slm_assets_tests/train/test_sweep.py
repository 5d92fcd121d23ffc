"""The sweep trains one adapter per cell and plots score against data size and steps."""

from slm_assets.train.config import train_config_from
from slm_assets.train.sweep import plot_sweep, run_sweep
from slm_assets_tests.train.helpers import write_chat_split


def test_sweep_grid_and_plot(tiny_smollm2_dir, tmp_path):
    write_chat_split(tmp_path / "sft", 16)
    scored = []

    def score(adapter_dir):
        scored.append(adapter_dir)
        return len(scored) / 10

    cells = run_sweep(str(tiny_smollm2_dir), tmp_path / "cache", tmp_path / "sft", tmp_path / "out",
                      train_config_from({"preset": "smoke"}), sizes=[4, 8], steps=[1], score_fn=score)
    assert [(c.n_examples, c.steps) for c in cells] == [(4, 1), (8, 1)]
    assert len({str(p) for p in scored}) == 2 and all(p.exists() for p in scored)
    png = plot_sweep(cells, tmp_path / "sweep.png", "rouge_l")
    assert png.read_bytes()[:4] == b"\x89PNG"
