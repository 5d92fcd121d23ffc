"""Re-exported so every defs module names the same partitions definition."""

from slm_assets.domains import domain_partitions

__all__ = ["domain_partitions"]
