"""lora_adapter refuses to start while a live process from an earlier run still writes into its folder."""

import json
import socket
import subprocess

import dagster as dg

from slm_assets.definitions import defs
from slm_assets.processes import LOCK_NAME, process_start_time


def test_lora_adapter_refuses_while_a_live_writer_holds_its_folder(tiny_domain, resources_for, tmp_path):
    resources = resources_for(tiny_domain["domains_dir"], tiny_domain["warehouse"])
    sft = resources["warehouse"].artifacts("tiny", "sft")
    (sft / "manifest.json").write_text(json.dumps({"dataset_hash": "abc"}))
    lora = resources["warehouse"].artifacts("tiny", "lora")
    writer = subprocess.Popen(["sleep", "120"])  # stands in for an orphaned trainer of an earlier run
    try:
        (lora / LOCK_NAME).write_text(json.dumps({
            "pid": writer.pid, "start_time": process_start_time(writer.pid), "host": socket.gethostname(),
            "purpose": "lora_adapter training", "locked_at": "2026-11-29T12:00:00+00:00"}))
        (tmp_path / "dagster_home").mkdir()
        with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:
            instance.add_dynamic_partitions("domain", ["tiny"])
            result = dg.materialize([defs().get_assets_def(dg.AssetKey("lora_adapter"))], partition_key="tiny",
                                    instance=instance, resources=resources, raise_on_error=False)
            failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    finally:
        writer.kill()
        writer.wait()
    assert not result.success
    message = failure.step_failure_data.error.message if failure.step_failure_data.error else ""
    description = failure.step_failure_data.user_failure_data.description if (
        failure.step_failure_data.user_failure_data) else ""
    text = message + description
    assert f"process {writer.pid}" in text and str(lora) in text
    assert not (lora / "checkpoints").exists()  # nothing was started
