"""QA pairs in the warehouse: resume state, pruning of stale and superseded pairs, and file exports.

Pairs go into the domain's draft snapshot of synthetic_qa_5000 the moment a call returns; an interrupted run
leaves the draft for the next run to resume, and the asset seals it at its end (`slm_assets.snapshots`).
"""

from pathlib import Path

import duckdb

from slm_assets.snapshots import Snapshot, add_to_draft, open_draft, seal_draft
from slm_assets.synth.prompts import Template
from slm_assets.warehouse import insert_rows

ASSET = "synthetic_qa_5000"
IN_DRAFT = ("join snapshot_rows m on m.row_key = q.row_key and m.table_name = 'qa_pairs' "
            "where m.snapshot_id = ?")


class WarehouseQAStore:
    """Each teacher call and its pairs are written in one transaction, the moment the call returns."""

    def __init__(self, con: duckdb.DuckDBPyConnection, domain: str, run_id: str | None = None):
        self.con, self.domain = con, domain
        self.draft_id = open_draft(con, domain, ASSET, run_id)

    def done_call_keys(self) -> set[str]:
        rows = self.con.execute(
            "select call_key from teacher_calls where domain = ? and status in ('ok', 'invalid')", [self.domain]
        ).fetchall()
        return {r[0] for r in rows}

    def accepted(self) -> list[tuple[str, str]]:
        return self.con.execute(
            f"select q.qa_id, q.question from qa_pairs q {IN_DRAFT} and q.status = 'accepted' "
            "order by q.created_at, q.qa_id", [self.draft_id],
        ).fetchall()

    def record(self, call_row: dict, pair_rows: list[dict]) -> None:
        self.con.execute("begin transaction")
        try:
            insert_rows(self.con, "teacher_calls", [call_row])
            add_to_draft(self.con, self.draft_id, "qa_pairs", pair_rows)
            self.con.execute("commit")
        except Exception:
            self.con.execute("rollback")
            raise

    def prune_stale(self) -> int:
        """Leave out of the draft the pairs whose chunk is no longer current (its document changed or left),
        and forget their calls. Sealed snapshots keep them."""
        stale_keys = [r[0] for r in self.con.execute(
            f"""select q.row_key from qa_pairs q {IN_DRAFT} and not exists
                (select 1 from current_clean_chunks c where c.domain = q.domain and c.chunk_id = q.chunk_id)""",
            [self.draft_id],
        ).fetchall()]
        self.con.execute("begin transaction")
        try:
            self._leave_out_of_draft(stale_keys)
            self.con.execute(
                """delete from teacher_calls t where t.domain = ? and not exists
                   (select 1 from current_clean_chunks c where c.domain = t.domain and c.chunk_id = t.chunk_id)""",
                [self.domain],
            )
            self.con.execute("commit")
        except Exception:
            self.con.execute("rollback")
            raise
        return len(stale_keys)

    def prune_superseded(self, templates: list[Template], provider: str) -> int:
        """Leave out of the draft the pairs that an older version of one of `templates` made with this provider's
        teacher: a changed strategy or prompt replaces its old output instead of adding to it. Pairs of other
        templates or teachers stay, and so do sealed snapshots."""
        superseded = []
        for template in templates:
            superseded += [r[0] for r in self.con.execute(
                f"""select q.row_key from qa_pairs q {IN_DRAFT} and q.teacher_provider = ? and q.template_id = ?
                    and q.template_version is distinct from ?""",
                [self.draft_id, provider, template.template_id, template.version],
            ).fetchall()]
        self._leave_out_of_draft(superseded)
        return len(superseded)

    def _leave_out_of_draft(self, row_keys: list[str]) -> None:
        if row_keys:  # executemany refuses an empty list
            self.con.executemany("delete from snapshot_rows where snapshot_id = ? and table_name = 'qa_pairs' "
                                 "and row_key = ?", [[self.draft_id, k] for k in row_keys])

    def reset(self) -> None:
        """Start the draft empty and forget every call (sealed snapshots keep their pairs)."""
        self.con.execute("delete from snapshot_rows where snapshot_id = ?", [self.draft_id])
        self.con.execute("delete from teacher_calls where domain = ?", [self.domain])

    def seal(self, parent_ids: list[str]) -> Snapshot:
        """The draft becomes the domain's current, immutable synthetic_qa_5000 snapshot."""
        return seal_draft(self.con, self.draft_id, parent_ids)


def export_accepted(con: duckdb.DuckDBPyConnection, domain: str, out_dir: Path) -> dict[str, str]:
    """The current snapshot's accepted pairs with their provenance as JSON, JSONL, CSV and Parquet."""
    out_dir.mkdir(parents=True, exist_ok=True)
    query = (
        "select qa_id, question, answer, question_type, chunk_id, doc_id, source, page_start, template_id, "
        "template_version, teacher_provider, teacher_model, temperature, seed, prompt_tokens, completion_tokens, "
        f"latency_s, created_at from current_qa_pairs where domain = '{domain}' and status = 'accepted' order by qa_id"
    )
    paths = {
        "jsonl": out_dir / "qa_pairs.jsonl",
        "json": out_dir / "qa_pairs.json",
        "csv": out_dir / "qa_pairs.csv",
        "parquet": out_dir / "qa_pairs.parquet",
    }
    con.execute(f"copy ({query}) to '{paths['jsonl']}' (format json)")
    con.execute(f"copy ({query}) to '{paths['json']}' (format json, array true)")
    con.execute(f"copy ({query}) to '{paths['csv']}' (header, delimiter ',')")
    con.execute(f"copy ({query}) to '{paths['parquet']}' (format parquet)")
    return {k: str(v) for k, v in paths.items()}
