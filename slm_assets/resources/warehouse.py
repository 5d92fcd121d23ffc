"""The DuckDB warehouse and the artifact folders, as a Dagster resource."""

from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import Field

from slm_assets import warehouse


class WarehouseResource(dg.ConfigurableResource):
    """Where data lives: `<root>/slm.duckdb` and `<root>/artifacts/<domain>/<kind>/<run id>/...`."""

    root: str = Field(description="Warehouse folder (data only, git-ignored).")
    models_cache: str | None = Field(default=None, description="Converted base models; default <root>/models.")

    @property
    def root_path(self) -> Path:
        return Path(self.root).resolve()

    @property
    def duckdb_path(self) -> Path:
        return self.root_path / "slm.duckdb"

    @property
    def models_cache_dir(self) -> Path:
        return Path(self.models_cache).resolve() if self.models_cache else self.root_path / "models"

    def artifacts(self, domain: str, *parts: str) -> Path:
        path = self.root_path.joinpath("artifacts", domain, *parts)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def run_artifacts(self, domain: str, kind: str, run_id: str) -> Path:
        """A new folder for one run's artifacts of `kind` (sft, lora, distilled, benchmark ...)."""
        return self.artifacts(domain, kind, run_id)

    def latest_artifacts(self, domain: str, kind: str, *parts: str) -> Path:
        """The newest finished run's folder of `kind` (its `latest.json` pointer), then `parts` inside it."""
        from slm_assets.artifacts import latest_run_dir

        return latest_run_dir(self.artifacts(domain, kind)).joinpath(*parts)

    def inbox(self, domain: str) -> Path:
        return self.root_path / "inbox" / domain

    @contextmanager
    def connect(self, read_only: bool = False):
        with warehouse.connect(self.duckdb_path, read_only=read_only) as con:
            yield con
