"""Checkpoints are resumed only for an interrupted run on the same data and settings; anything else trains from 0."""

import json

from slm_assets.train.checkpoints import RUN_FILE, mark_finished, read_run, resume_point, run_identity
from slm_assets_tests.train.helpers import write_chat_split

ROWS = {"train": [{"prompt": "a", "completion": "b"}], "val": [{"prompt": "c", "completion": "d"}]}
SETTINGS = {"base_model": "tiny", "max_steps": 4, "learning_rate": 1e-3}


def _fake_checkpoints(folder, steps):
    for step in steps:
        (folder / f"checkpoint-{step}").mkdir(parents=True)
        (folder / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")


def test_identity_changes_with_the_examples_and_with_any_setting():
    base = run_identity(ROWS, SETTINGS)
    assert base == run_identity(json.loads(json.dumps(ROWS)), dict(reversed(SETTINGS.items())))
    more = {**ROWS, "train": [*ROWS["train"], {"prompt": "e", "completion": "f"}]}
    assert run_identity(more, SETTINGS).dataset_hash != base.dataset_hash
    assert run_identity(ROWS, {**SETTINGS, "learning_rate": 2e-3}).settings_hash != base.settings_hash
    assert run_identity(ROWS, {**SETTINGS, "learning_rate": 2e-3}).dataset_hash == base.dataset_hash


def test_interrupted_run_with_same_identity_resumes_from_its_newest_checkpoint(tmp_path):
    identity = run_identity(ROWS, SETTINGS)
    assert resume_point(tmp_path, identity) is None  # first run: nothing to resume, the run is recorded
    assert read_run(tmp_path) == {**identity.__dict__, "finished": False}
    _fake_checkpoints(tmp_path, [2, 10, 4])  # killed after step 10
    assert resume_point(tmp_path, identity) == str(tmp_path / "checkpoint-10")
    assert (tmp_path / "checkpoint-2").exists()


def test_a_checkpoint_the_kill_interrupted_is_removed_and_the_one_before_it_resumed(tmp_path):
    identity = run_identity(ROWS, SETTINGS)
    resume_point(tmp_path, identity)
    _fake_checkpoints(tmp_path, [2, 4])
    (tmp_path / "checkpoint-6").mkdir()  # killed while the Trainer wrote it: weights, no trainer_state.json yet
    (tmp_path / "checkpoint-6" / "adapter_model.safetensors").write_bytes(b"half")
    assert resume_point(tmp_path, identity) == str(tmp_path / "checkpoint-4")
    assert not (tmp_path / "checkpoint-6").exists()
    (tmp_path / "checkpoint-2" / "trainer_state.json").unlink()  # none written to the end: step 0
    (tmp_path / "checkpoint-4" / "trainer_state.json").unlink()
    assert resume_point(tmp_path, identity) is None and not list(tmp_path.glob("checkpoint-*"))


def test_finished_run_or_other_identity_or_no_record_starts_from_step_0_and_clears_checkpoints(tmp_path):
    identity = run_identity(ROWS, SETTINGS)
    cases = {
        "finished": lambda: mark_finished(tmp_path, identity),
        "other data": lambda: mark_finished(tmp_path, run_identity({**ROWS, "val": []}, SETTINGS)),
        "other settings": lambda: resume_point(tmp_path, run_identity(ROWS, {**SETTINGS, "max_steps": 8})),
        "no record (older version)": lambda: (tmp_path / RUN_FILE).unlink(),
        "unreadable record": lambda: (tmp_path / RUN_FILE).write_text("{not json"),
    }
    for case, prepare in cases.items():
        resume_point(tmp_path, identity)
        _fake_checkpoints(tmp_path, [3, 6])
        prepare()
        assert resume_point(tmp_path, identity) is None, case
        assert not list(tmp_path.glob("checkpoint-*")), case
        assert read_run(tmp_path) == {**identity.__dict__, "finished": False}, case


def test_completed_run_then_changed_data_trains_every_step_again(tiny_smollm2_dir, tmp_path):
    """The reported bug: a second materialisation 'resumed' from the first run's last checkpoint and trained nothing."""
    from slm_assets.train.config import train_config_from
    from slm_assets.train.lora import train_lora

    config = train_config_from({"preset": "smoke", "max_steps": 4, "eval_steps": 2})
    data, out = tmp_path / "sft", tmp_path / "out"
    write_chat_split(data, 16)
    first = train_lora(str(tiny_smollm2_dir), tmp_path / "cache", data, out, config)
    assert first.steps == 4 and read_run(out / "checkpoints")["finished"] is True
    assert [p.name for p in sorted((out / "checkpoints").glob("checkpoint-*"))] == ["checkpoint-2", "checkpoint-4"]

    write_chat_split(data, 24)  # new documents -> more examples
    steps_trained = []
    second = train_lora(str(tiny_smollm2_dir), tmp_path / "cache", data, out, config,
                        sink=lambda step, metrics: steps_trained.append(step) if "loss" in metrics else None)
    assert second.resumed_from is None
    assert steps_trained == [1, 2, 3, 4]
    assert second.eval_loss_first is not None  # the step-0 evaluation of a fresh run
    record = read_run(out / "checkpoints")
    assert record["finished"] is True and record["dataset_hash"] != run_identity(ROWS, SETTINGS).dataset_hash


def test_a_new_run_trains_in_the_folder_an_interrupted_run_left_not_in_a_published_or_finished_one(tmp_path):
    from slm_assets.artifacts import publish_latest
    from slm_assets.train.checkpoints import interrupted_run_dir

    kind = tmp_path / "lora"
    identity = run_identity(ROWS, SETTINGS)
    assert interrupted_run_dir(kind) is None  # nothing trained yet
    finished, killed, published = kind / "run-a", kind / "run-b", kind / "run-c"
    for folder in (finished, killed, published):
        resume_point(folder / "checkpoints", identity)
        _fake_checkpoints(folder / "checkpoints", [2])
    mark_finished(finished / "checkpoints", identity)
    publish_latest(published)  # a published run's checkpoints are never trained into again
    assert interrupted_run_dir(kind) == killed
    mark_finished(killed / "checkpoints", identity)
    assert interrupted_run_dir(kind) is None
