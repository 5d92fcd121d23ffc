"""A Pipes child that stands in for training where only its lifetime matters: it records its PID and
process group in `extras["pid_file"]`, then sleeps until it is killed (or `extras["sleep_s"]` passes)."""

import json
import os
import time


def main() -> None:
    from dagster_pipes import open_dagster_pipes

    with open_dagster_pipes() as pipes:
        path = pipes.extras["pid_file"]
        with open(path + ".tmp", "w") as handle:
            json.dump({"pid": os.getpid(), "pgid": os.getpgid(0), "ppid": os.getppid()}, handle)
        os.replace(path + ".tmp", path)
        time.sleep(float(pipes.extras.get("sleep_s", 300)))
        pipes.report_asset_materialization(metadata={"slept": True})


if __name__ == "__main__":
    main()
