"""slm_assets: documents in, a specialised small LLM out."""

import os

# MLflow 3 sends usage events to its servers unless told not to; this project never calls out on its own
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
