"""Shared by every defs module: the domain partitions and how downstream assets follow upstream ones."""

import dagster as dg

from slm_assets.domains import domain_partitions

# New documents -> raw_docs (sensor) -> every downstream asset of that domain, once its parents are updated.
# eager() also waits while a parent is still in progress, so one change gives one model version.
FOLLOW_UPSTREAM = dg.AutomationCondition.eager()

__all__ = ["FOLLOW_UPSTREAM", "domain_partitions"]
