"""Which training checkpoints may be resumed: only those of an interrupted run on the same data and settings.

A run writes `run.json` beside its checkpoints: the hash of the examples it trains on, the hash of its settings
and whether it finished. The next run resumes only when both hashes match and the run did not finish; otherwise
the old checkpoints are removed and training starts at step 0. (Resuming a finished run would train nothing and
hand back the old adapter as if it had learned from the new data.) It resumes from the newest checkpoint written to
the end: one that a kill interrupted while the Trainer wrote it (no `trainer_state.json`, its last file) is removed.
"""

import hashlib
import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from slm_assets.storage import write_text_atomically

log = logging.getLogger(__name__)
EVAL_BEFORE_FILE = "eval_before.json"
RUN_FILE = "run.json"
TRAINER_STATE = "trainer_state.json"  # the last file the Trainer writes into a checkpoint: without it, half a one


@dataclass(frozen=True)
class RunIdentity:
    dataset_hash: str
    settings_hash: str


def _digest(lines) -> str:
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def run_identity(rows_by_split: dict[str, list[dict]], settings: dict) -> RunIdentity:
    """Hashes of the examples a run trains and validates on, and of every setting that shapes it."""
    dataset = _digest(f"{split}:{json.dumps(row, sort_keys=True)}"
                      for split, rows in sorted(rows_by_split.items()) for row in rows)
    return RunIdentity(dataset_hash=dataset, settings_hash=_digest([json.dumps(settings, sort_keys=True, default=str)]))


def checkpoint_dirs(checkpoints: Path) -> list[Path]:
    """`checkpoint-<step>` folders, oldest first."""
    found = [p for p in checkpoints.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def read_run(checkpoints: Path) -> dict | None:
    path = checkpoints / RUN_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        log.warning("%s is unreadable: its checkpoints are not resumed", path)
        return None


def _write_run(checkpoints: Path, identity: RunIdentity, finished: bool) -> None:
    checkpoints.mkdir(parents=True, exist_ok=True)
    tmp = checkpoints / f"{RUN_FILE}.tmp"
    tmp.write_text(json.dumps({**asdict(identity), "finished": finished}, indent=2))
    tmp.replace(checkpoints / RUN_FILE)  # atomic: a kill never leaves half a record


def resume_point(checkpoints: Path, identity: RunIdentity) -> str | None:
    """The checkpoint to resume from, or None after clearing checkpoints that belong to another or finished run.

    Either way `run.json` then describes this run, unfinished."""
    previous = read_run(checkpoints)
    found = checkpoint_dirs(checkpoints) if checkpoints.exists() else []
    same = previous is not None and previous.get("dataset_hash") == identity.dataset_hash \
        and previous.get("settings_hash") == identity.settings_hash
    whole = [path for path in found if (path / TRAINER_STATE).exists()]
    if whole and same and not previous.get("finished"):
        for partial in found[found.index(whole[-1]) + 1:]:
            log.warning("%s was being written when its run died (no %s): removed", partial, TRAINER_STATE)
            shutil.rmtree(partial)
        _write_run(checkpoints, identity, finished=False)
        return str(whole[-1])
    if found:
        reason = why_not_resumed(previous, same)
        log.info("starting from step 0: %d old checkpoint(s) in %s removed (%s)", len(found), checkpoints, reason)
        for path in found:
            shutil.rmtree(path)
    _write_run(checkpoints, identity, finished=False)
    return None


def why_not_resumed(previous: dict | None, same: bool) -> str:
    """Why old checkpoints are removed instead of resumed (`same`: the same data and settings as this run)."""
    if previous is None:
        return "no record of their run"
    if not same:
        return "they belong to other data or settings"
    if previous.get("finished"):
        return "their run finished"
    return "none was written to the end"


def record_eval_before(checkpoints: Path, eval_loss: float | None) -> None:
    """Keep the step-0 validation loss beside the checkpoints: a resumed run evaluates from its checkpoint on, and
    the Trainer's checkpoints do not hold the evaluation made before training."""
    checkpoints.mkdir(parents=True, exist_ok=True)
    write_text_atomically(checkpoints / EVAL_BEFORE_FILE, json.dumps({"eval_loss": eval_loss}))


def recorded_eval_before(checkpoints: Path) -> float | None:
    """The step-0 validation loss of the run these checkpoints belong to (None when none was recorded)."""
    try:
        return json.loads((checkpoints / EVAL_BEFORE_FILE).read_text()).get("eval_loss")
    except (OSError, json.JSONDecodeError):
        return None


def mark_finished(checkpoints: Path, identity: RunIdentity) -> None:
    """Called once the run's adapter is saved: its checkpoints are never resumed again."""
    _write_run(checkpoints, identity, finished=True)


def interrupted_run_dir(kind_dir: Path) -> Path | None:
    """The newest per-run folder of a training kind (artifacts/<domain>/lora/<run id>/) whose training was
    interrupted: it holds checkpoints, its `run.json` says unfinished, and `latest.json` does not point at it.

    A new Dagster run trains into that folder instead of a fresh one, so a killed training resumes there
    (resume_point still checks that data and settings are the same, else it starts at step 0 in it)."""
    from slm_assets.artifacts import LATEST, latest_run_dir, run_dirs

    published = latest_run_dir(kind_dir) if (Path(kind_dir) / LATEST).exists() else None
    candidates = [d for d in run_dirs(kind_dir) if d != published and checkpoint_dirs(d / "checkpoints")
                  and (read_run(d / "checkpoints") or {}).get("finished") is False]
    return max(candidates, key=lambda d: (d / "checkpoints" / RUN_FILE).stat().st_mtime, default=None)
