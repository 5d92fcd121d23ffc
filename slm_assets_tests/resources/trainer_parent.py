"""A parent process that materialises one asset whose Pipes child is `pipes_sleeper`, launched through
`TrainerResource` exactly as training is: `python trainer_parent.py PID_FILE`."""

import sys

import dagster as dg

from slm_assets.resources.trainer import TrainerResource


@dg.asset
def sleeper(context: dg.AssetExecutionContext, trainer: TrainerResource):
    return trainer.run(context, "slm_assets_tests.resources.pipes_sleeper", {"pid_file": sys.argv[1]})


if __name__ == "__main__":
    dg.materialize([sleeper], resources={"trainer": TrainerResource()})
