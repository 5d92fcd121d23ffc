"""QA pairs in the warehouse: resume state, stale-pair pruning and file exports."""

from pathlib import Path

import duckdb

from slm_assets.warehouse import insert_rows


class WarehouseQAStore:
    """Each teacher call and its pairs are written in one transaction, the moment the call returns."""

    def __init__(self, con: duckdb.DuckDBPyConnection, domain: str):
        self.con, self.domain = con, domain

    def done_call_keys(self) -> set[str]:
        rows = self.con.execute(
            "select call_key from teacher_calls where domain = ? and status in ('ok', 'invalid')", [self.domain]
        ).fetchall()
        return {r[0] for r in rows}

    def accepted(self) -> list[tuple[str, str]]:
        return self.con.execute(
            "select qa_id, question from qa_pairs where domain = ? and status = 'accepted' order by created_at, qa_id",
            [self.domain],
        ).fetchall()

    def record(self, call_row: dict, pair_rows: list[dict]) -> None:
        self.con.execute("begin transaction")
        try:
            insert_rows(self.con, "teacher_calls", [call_row])
            insert_rows(self.con, "qa_pairs", pair_rows)
            self.con.execute("commit")
        except Exception:
            self.con.execute("rollback")
            raise

    def prune_stale(self) -> int:
        """Drop pairs and calls whose chunk is no longer in clean_chunks (its document changed or left)."""
        stale = self.con.execute(
            """select count(*) from qa_pairs q where q.domain = ? and not exists
               (select 1 from clean_chunks c where c.domain = q.domain and c.chunk_id = q.chunk_id)""",
            [self.domain],
        ).fetchone()[0]
        for table in ("qa_pairs", "teacher_calls"):
            self.con.execute(
                f"""delete from {table} t where t.domain = ? and not exists
                    (select 1 from clean_chunks c where c.domain = t.domain and c.chunk_id = t.chunk_id)""",
                [self.domain],
            )
        return stale

    def reset(self) -> None:
        for table in ("qa_pairs", "teacher_calls"):
            self.con.execute(f"delete from {table} where domain = ?", [self.domain])


def export_accepted(con: duckdb.DuckDBPyConnection, domain: str, out_dir: Path) -> dict[str, str]:
    """Accepted pairs with their provenance as JSON, JSONL, CSV and Parquet."""
    out_dir.mkdir(parents=True, exist_ok=True)
    query = (
        "select qa_id, question, answer, question_type, chunk_id, doc_id, source, page_start, template_id, "
        "template_version, teacher_provider, teacher_model, temperature, seed, prompt_tokens, completion_tokens, "
        f"latency_s, created_at from qa_pairs where domain = '{domain}' and status = 'accepted' order by qa_id"
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
