"""The seed study: how the benchmark score moves with training-data size and training steps."""

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from slm_assets.plots import pyplot, save_png
from slm_assets.train.config import TrainConfig
from slm_assets.train.lora import train_lora

log = logging.getLogger(__name__)


@dataclass
class SweepCell:
    n_examples: int
    steps: int
    eval_loss: float | None
    score: float  # primary metric on the benchmark questions
    wall_s: float


def run_sweep(base_model: str, cache_dir: Path, dataset_dir: Path, out_dir: Path, base_config: TrainConfig,
              sizes: list[int], steps: list[int], score_fn) -> list[SweepCell]:
    """Train one adapter per (size, steps) cell; `score_fn(adapter_dir) -> float` scores it on the benchmark."""
    cells = []
    for n in sizes:
        for s in steps:
            config = base_config.model_copy(update={"max_train_examples": n, "max_steps": s,
                                                    "eval_steps": max(1, s // 2)})
            cell_dir = out_dir / f"n{n}_s{s}"
            summary = train_lora(base_model, cache_dir, dataset_dir, cell_dir, config)
            score = score_fn(Path(summary.adapter_dir))
            log.info("sweep n=%d steps=%d: eval_loss=%s score=%.4f", n, s, summary.eval_loss_last, score)
            cells.append(SweepCell(n, s, summary.eval_loss_last, score, summary.wall_s))
    return cells


def plot_sweep(cells: list[SweepCell], path: Path, metric: str) -> Path:
    """Score against steps, one line per data size (and the heat map of the grid)."""
    sizes = sorted({c.n_examples for c in cells})
    steps = sorted({c.steps for c in cells})
    grid = [[next(c.score for c in cells if c.n_examples == n and c.steps == s) for s in steps] for n in sizes]
    fig, (left, right) = pyplot().subplots(1, 2, figsize=(9, 3.5))
    for n, row in zip(sizes, grid, strict=True):
        left.plot(steps, row, marker="o", label=f"{n} examples")
    left.set_xlabel("training steps")
    left.set_ylabel(metric)
    left.legend()
    image = right.imshow(grid, cmap="viridis", aspect="auto", origin="lower")
    right.set_xticks(range(len(steps)), steps)
    right.set_yticks(range(len(sizes)), sizes)
    right.set_xlabel("training steps")
    right.set_ylabel("training examples")
    fig.colorbar(image, ax=right, label=metric)
    fig.suptitle("Data size x training steps")
    fig.tight_layout()
    return save_png(fig, path, dpi=70)


def write_sweep(cells: list[SweepCell], path: Path) -> Path:
    """The grid as JSON, one object per cell."""
    path.write_text(json.dumps([vars(c) for c in cells], indent=2))
    return path


def sweep_metrics(cells: list[SweepCell], metric: str) -> list[tuple[str, float, int]]:
    """One MLflow metric series per data size (`<metric>.n<examples>`), its steps the training steps."""
    return [(f"{metric}.n{cell.n_examples}", cell.score, cell.steps) for cell in cells]
