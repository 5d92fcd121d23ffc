"""Loss curves as small PNGs (for MLflow and the Dagster UI)."""

from pathlib import Path

from slm_assets.plots import pyplot, save_png

TRAIN_AND_EVAL_LOSS = ("loss", "eval_loss")


def loss_curve(history: list[dict], path: Path, title: str, keys: tuple[str, ...] = TRAIN_AND_EVAL_LOSS) -> Path:
    fig, ax = pyplot().subplots(figsize=(6, 3))
    for key in keys:
        points = [(h["step"], h[key]) for h in history if key in h]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o" if key.startswith("eval") else None, markersize=3, label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return save_png(fig, path, dpi=70)

