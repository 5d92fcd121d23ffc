"""What a run says when its Pipes training child did not exit on its own."""

from slm_assets.resources.trainer import killed_child_message


def test_a_child_killed_by_a_signal_is_named_with_the_signal_and_what_the_next_run_does():
    said = killed_child_message("slm_assets.train.lora_job", "External execution process failed with code -9",
                                "/w/artifacts/tiny/lora/run-1")
    assert said == ("the training process slm_assets.train.lora_job was killed by SIGKILL (the out-of-memory killer "
                    "or `kill -9`); the next run resumes from the last checkpoint it wrote in "
                    "/w/artifacts/tiny/lora/run-1, if any")
    assert killed_child_message("m", "External execution process failed with code -15", None) == (
        "the training process m was killed by SIGTERM")


def test_a_child_that_exited_with_a_status_is_left_to_its_own_log():
    assert killed_child_message("m", "External execution process failed with code 1", "/w") is None
