"""Loss curves as small PNGs (for MLflow and the Dagster UI)."""

from pathlib import Path

from slm_assets.storage import replaced_atomically


def loss_curve(history: list[dict], path: Path, title: str, keys: tuple[str, ...] = ("loss", "eval_loss")) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    for key in keys:
        points = [(h["step"], h[key]) for h in history if key in h]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o" if key.startswith("eval") else None, markersize=3, label=key)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as staging:
        fig.savefig(staging, dpi=70)
    plt.close(fig)
    return path

