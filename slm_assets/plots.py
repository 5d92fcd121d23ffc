"""Setting up and saving a matplotlib figure, shared by every stage that draws one (loss curves, the sweep, the
benchmark's plots). matplotlib is imported inside the functions."""

from pathlib import Path

from slm_assets.storage import replaced_atomically


def pyplot():
    """matplotlib.pyplot on the Agg backend: files only, no display needed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: Path, dpi: int) -> Path:
    """Write `fig` to `path` (its folder created; a reader never sees half a file) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as staging:
        fig.savefig(staging, dpi=dpi)
    pyplot().close(fig)
    return path
