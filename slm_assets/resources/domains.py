"""The domain YAML folder as a resource, so tests and deployments can point elsewhere."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from slm_assets.domains import DomainSpec, load_domain


class DomainsResource(dg.ConfigurableResource):
    domains_dir: str = Field(description="Folder of <domain>.yaml files.")

    def get(self, name: str) -> DomainSpec:
        return load_domain(name, Path(self.domains_dir))

    def yaml_text(self, name: str) -> str:
        """The domain's YAML file as written (kept with each model version for lineage)."""
        return (Path(self.domains_dir) / f"{name}.yaml").read_text(encoding="utf-8")
