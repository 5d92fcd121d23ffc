"""`python pool_holder.py RUN_ID_FILE`: materialises one asset in pool `gpu` the way `slm-assets materialize`
does (in this process, tagged with it), and sleeps inside it holding the pool's slot until killed."""

import sys
import time
from pathlib import Path

import dagster as dg

from slm_assets.cli import execute_with_pool_limit


@dg.asset(pool="gpu")
def gpu_sleeper(context: dg.AssetExecutionContext) -> None:
    Path(sys.argv[1]).write_text(context.run.run_id)
    time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 300)


if __name__ == "__main__":
    job = dg.Definitions(assets=[gpu_sleeper]).get_implicit_global_asset_job_def()
    execute_with_pool_limit(job, dg.DagsterInstance.get(), None, None, limit_s=600)
