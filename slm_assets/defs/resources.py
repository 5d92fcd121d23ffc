"""The one place resources are bound. Secrets come only through dg.EnvVar."""

import dagster as dg

from slm_assets.resources.domains import DomainsResource
from slm_assets.resources.mlflow_tracking import TrackingResource
from slm_assets.resources.teacher import TeacherResource
from slm_assets.resources.trainer import TrainerResource
from slm_assets.resources.warehouse import WarehouseResource
from slm_assets.settings import get_settings


def default_resources() -> dict:
    settings = get_settings()
    return {
        "warehouse": WarehouseResource(
            root=str(settings.warehouse_dir),
            models_cache=str(settings.models_cache) if settings.models_cache else None,
        ),
        "domains": DomainsResource(domains_dir=str(settings.domains_dir)),
        "teacher": TeacherResource(groq_api_key=dg.EnvVar("GROQ_API_KEY") if settings.groq_api_key else None),
        "tracking": TrackingResource(
            tracking_uri=settings.tracking_uri, artifacts_dir=str(settings.mlflow_artifacts_dir)
        ),
        "trainer": TrainerResource(),
    }


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources=default_resources())
