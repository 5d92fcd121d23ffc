"""A Dagster run a person watches in a terminal: one tqdm bar per asset, fed from the run's event log.

A step's bar fills when it succeeds; inside long steps it follows their `progress NN% ...` log lines (training
logs them at a steady cadence), shown beside the bar. While it runs, what this process writes to stderr (Dagster's
console log) goes through tqdm, above the bars, so log lines and bars do not overwrite each other.
"""

import re
import sys
import threading

PROGRESS_LINE = re.compile(r"^progress (\d+(?:\.\d+)?)%")
BAR_FORMAT = "{desc:<28} {percentage:3.0f}%|{bar:20}| {elapsed}{postfix}"


def progress_line(fraction: float, what: str) -> str:
    """The log line a long step writes for the bar (`PROGRESS_LINE`): `progress 42% (what)`."""
    return f"progress {100 * fraction:.0f}% ({what})"


class RunProgress:
    """Context manager: polls the run's event records on a thread while the run executes, and once more at exit."""

    def __init__(self, instance, run_id: str, n_steps: int, stream=None, poll_s: float = 0.5, disable: bool = False):
        self.instance, self.run_id, self.n_steps, self.stream = instance, run_id, n_steps, stream
        self.poll_s, self.disable = poll_s, disable
        self.bars: dict[str, object] = {}
        self.outcomes: dict[str, str] = {}  # step key -> running / done / failed
        self._cursor: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="run-progress", daemon=True)

    def __enter__(self):
        if not self.disable:
            from tqdm.contrib import DummyTqdmFile

            self._stderr = sys.stderr
            self.stream = self.stream or self._stderr
            sys.stderr = DummyTqdmFile(self._stderr)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.disable:
            return False
        self._stop.set()
        self._thread.join()
        try:
            self.poll()
        finally:
            sys.stderr = self._stderr
            for bar in self.bars.values():
                bar.close()
        return False

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.poll()

    def poll(self) -> None:
        connection = self.instance.get_records_for_run(self.run_id, cursor=self._cursor)
        for record in connection.records:
            self.handle(record.event_log_entry)
        self._cursor = connection.cursor or self._cursor

    def handle(self, entry) -> None:
        event, step = entry.dagster_event, entry.step_key
        if step is None:
            return
        if event is None:  # a log line from the step
            match = PROGRESS_LINE.match(entry.user_message or "")
            if match and step in self.bars:
                bar = self.bars[step]
                bar.n = min(99.0, float(match.group(1)))
                bar.set_postfix_str(entry.user_message[len("progress "):].split(" ", 1)[-1], refresh=True)
            return
        kind = event.event_type_value
        if kind == "STEP_START" and step not in self.bars:
            self.bars[step] = self._bar(step)
            self.outcomes[step] = "running"
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and step in self.bars:
            bar, done = self.bars[step], kind == "STEP_SUCCESS"
            self.outcomes[step] = "done" if done else "failed"
            bar.n = 100.0 if done else bar.n
            bar.set_postfix_str(self.outcomes[step], refresh=False)
            bar.close()

    def _bar(self, step: str):
        from tqdm import tqdm

        return tqdm(total=100, desc=f"[{len(self.bars) + 1}/{self.n_steps}] {step}", file=self.stream,
                    bar_format=BAR_FORMAT, leave=True, dynamic_ncols=True)
