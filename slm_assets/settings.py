"""Where things live and which secrets are set: read once from the environment (and `.env`)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REFRESH_CRON = "0 3 * * 1"  # Mondays 03:00 UTC


class Settings(BaseSettings):
    """Paths and secrets. Every field can be set as `SLM_<FIELD>` in the environment or in `.env`."""

    model_config = SettingsConfigDict(
        env_prefix="SLM_", env_file=PROJECT_ROOT / ".env", env_file_encoding="utf-8", extra="ignore"
    )

    warehouse_dir: Path = Field(
        default=PROJECT_ROOT / "warehouse",
        description="Root of all data: the DuckDB file, artifacts, MLflow store, inboxes.",
    )
    domains_dir: Path = Field(
        default=PROJECT_ROOT / "domains", description="Folder of domain YAML files, one per partition."
    )
    models_cache: Path | None = Field(
        default=None,
        description="Where converted base models are cached (default: <warehouse>/models).",
    )
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; default SQLite under the warehouse."
    )
    pool_wait_limit_s: float = Field(
        default=900.0, gt=0,
        description="Longest a step of `slm-assets materialize` waits for a pool slot (e.g. `gpu`) held by "
        "another run before the run fails with a message naming that run.",
    )
    refresh_cron: str = Field(
        default=DEFAULT_REFRESH_CRON,
        description="When the `weekly_refresh` schedule rebuilds every domain (cron, UTC; default Mondays 03:00). "
        "Empty: the schedule starts stopped (switch it on in the UI); sensors still retrain on new documents.",
    )
    groq_api_key: str | None = Field(
        default=None,
        validation_alias="GROQ_API_KEY",
        description="Groq key; when set, domains whose teacher is `groq` call it.",
        repr=False,
    )
    alert_webhook: str | None = Field(
        default=None,
        description="URL that receives a JSON POST for every failed run (SLM_ALERT_WEBHOOK); may hold a token.",
        repr=False,
    )

    @property
    def duckdb_path(self) -> Path:
        return self.warehouse_dir / "slm.duckdb"

    @property
    def artifacts_dir(self) -> Path:
        return self.warehouse_dir / "artifacts"

    @property
    def models_cache_dir(self) -> Path:
        return self.models_cache or (self.warehouse_dir / "models")

    @property
    def failures_log(self) -> Path:
        return self.warehouse_dir / "run_failures.jsonl"

    @property
    def inbox_dir(self) -> Path:
        return self.warehouse_dir / "inbox"

    @property
    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{self.warehouse_dir / 'mlflow.db'}"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.warehouse_dir / "mlruns"


def get_settings() -> Settings:
    """Fresh settings each call: cheap, and tests can point SLM_WAREHOUSE_DIR elsewhere."""
    return Settings()
