"""The DuckDB warehouse and the artifact folders, as a Dagster resource."""

from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import Field

from slm_assets import warehouse


class WarehouseResource(dg.ConfigurableResource):
    """Where data lives: `<root>/slm.duckdb` and `<root>/artifacts/<domain>/...`."""

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

    def inbox(self, domain: str) -> Path:
        return self.root_path / "inbox" / domain

    @contextmanager
    def connect(self, read_only: bool = False):
        with warehouse.connect(self.duckdb_path, read_only=read_only) as con:
            yield con
