"""Immutable, content-addressed snapshots of the warehouse tables an asset writes.

A row of a versioned table (a document, a chunk, a QA pair ...) is stored once, keyed by the hash of its
content (`row_key`), however many snapshots hold it. A snapshot is a set of (table, row_key) memberships in
`snapshot_rows` plus one `snapshots` row (domain, asset, hash, created_at, Dagster run, parents). Sealed
snapshots are never modified; only `slm-assets gc` deletes one, and never one a registered model needs.
`current_<table>` views show the newest sealed snapshot of each domain, so readers see one version.

Synthetic QA is written as it arrives (crash-resume): its rows go into a *draft* snapshot (sealed_at null),
which a later run resumes and which is sealed at the end of the asset. Drafts are invisible to the views.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

# asset -> the tables one of its snapshots holds
VERSIONED_TABLES: dict[str, tuple[str, ...]] = {
    "raw_docs": ("raw_documents", "ingest_failures"),
    "clean_chunks": ("clean_documents", "clean_chunks", "curation_rejections"),
    "synthetic_qa_5000": ("qa_pairs",),
    "sft_dataset": ("sft_examples",),
}
TABLE_ASSET = {table: asset for asset, tables in VERSIONED_TABLES.items() for table in tables}
# columns left out of a row's key: when a document was read, when a failure happened. The first stored
# row's value is kept, so re-reading unchanged bytes adds no row.
VOLATILE_COLUMNS = {"raw_documents": ("fetched_at",), "ingest_failures": ("failed_at",)}

SCHEMA = [
    "create sequence if not exists snapshot_seq start 1",
    """
    create table if not exists snapshots (
        snapshot_id varchar primary key,
        seq bigint not null,              -- order of creation; the newest sealed one is current
        domain varchar not null,
        asset varchar not null,           -- raw_docs | clean_chunks | synthetic_qa_5000 | sft_dataset
        hash varchar,                     -- sha256 (16 hex) of the sorted (table, row_key) memberships
        created_at timestamp not null,
        sealed_at timestamp,              -- null: a draft still being written (synthetic QA)
        dagster_run_id varchar,
        parent_ids json                   -- the upstream snapshots it was made from
    )""",
    """
    create table if not exists snapshot_rows (
        snapshot_id varchar not null,
        table_name varchar not null,
        row_key varchar not null,
        primary key (snapshot_id, table_name, row_key)
    )""",
    """
    create or replace view current_snapshots as
    select * exclude (newest) from (
        select *, row_number() over (partition by domain, asset order by seq desc) as newest
        from snapshots where sealed_at is not null
    ) where newest = 1""",
]


def current_view_sql(table: str) -> str:
    """`current_<table>`: the rows of the newest sealed snapshot of each domain, with the table's own columns."""
    return f"""
    create or replace view current_{table} as
    select t.* exclude (row_key) from {table} t
    where t.row_key in (
        select m.row_key from snapshot_rows m join current_snapshots s on s.snapshot_id = m.snapshot_id
        where m.table_name = '{table}' and s.domain = t.domain)"""


@dataclass(frozen=True)
class Snapshot:
    snapshot_id: str
    domain: str
    asset: str
    hash: str | None
    created_at: datetime
    dagster_run_id: str | None
    parent_ids: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"snapshot_id": self.snapshot_id, "asset": self.asset, "hash": self.hash,
                "created_at": self.created_at.isoformat(), "dagster_run_id": self.dagster_run_id,
                "parent_ids": list(self.parent_ids)}


def row_key(table: str, row: dict) -> str:
    """Hash of the row's content (volatile columns and any stored key left out)."""
    skip = {"row_key", *VOLATILE_COLUMNS.get(table, ())}
    content = {k: v for k, v in row.items() if k not in skip}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _store_rows(con: duckdb.DuckDBPyConnection, snapshot_id: str, table: str, rows: list[dict]) -> None:
    """Insert rows not stored yet and add all of them to the snapshot (inside the caller's transaction)."""
    if not rows:
        return
    keyed = [{**{k: v for k, v in r.items() if k != "row_key"}, "row_key": row_key(table, r)} for r in rows]
    columns = list(keyed[0])
    con.executemany(
        f"insert or ignore into {table} ({', '.join(columns)}) values ({', '.join('?' for _ in columns)})",
        [[r[c] for c in columns] for r in keyed],
    )
    con.executemany("insert or ignore into snapshot_rows values (?, ?, ?)",
                    [[snapshot_id, table, r["row_key"]] for r in keyed])


def _membership_hash(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> str:
    keys = con.execute("select table_name || ':' || row_key from snapshot_rows where snapshot_id = ? order by 1",
                       [snapshot_id]).fetchall()
    return hashlib.sha256("\n".join(k[0] for k in keys).encode()).hexdigest()[:16]


def _insert_snapshot(con, snapshot_id: str, domain: str, asset: str, run_id: str | None) -> None:
    con.execute("insert into snapshots values (?, nextval('snapshot_seq'), ?, ?, null, ?, null, ?, '[]')",
                [snapshot_id, domain, asset, _now(), run_id])


def new_snapshot_id(asset: str) -> str:
    return f"{asset}-{uuid.uuid4().hex[:12]}"


def write_snapshot(con: duckdb.DuckDBPyConnection, domain: str, asset: str, tables: dict[str, list[dict]],
                   run_id: str | None, parent_ids: list[str]) -> Snapshot:
    """Store `tables` (every table of the asset) as one new sealed snapshot, in one transaction."""
    missing = set(VERSIONED_TABLES[asset]) - set(tables)
    if missing:
        raise ValueError(f"a {asset} snapshot needs rows for {sorted(missing)} (an empty list for none)")
    snapshot_id = new_snapshot_id(asset)
    con.execute("begin transaction")
    try:
        _insert_snapshot(con, snapshot_id, domain, asset, run_id)
        for table, rows in tables.items():
            _store_rows(con, snapshot_id, table, rows)
        snapshot = _seal(con, snapshot_id, parent_ids)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return snapshot


def _seal(con, snapshot_id: str, parent_ids: list[str]) -> Snapshot:
    con.execute("update snapshots set hash = ?, sealed_at = ?, parent_ids = ?, seq = nextval('snapshot_seq') "
                "where snapshot_id = ? and sealed_at is null",
                [_membership_hash(con, snapshot_id), _now(), json.dumps(sorted(parent_ids)), snapshot_id])
    return get_snapshot(con, snapshot_id)


def open_draft(con: duckdb.DuckDBPyConnection, domain: str, asset: str, run_id: str | None) -> str:
    """The domain's unsealed snapshot of `asset` (left by an interrupted run), or a new one that starts
    with the rows of the current snapshot. Returns its id."""
    row = con.execute("select snapshot_id from snapshots where domain = ? and asset = ? and sealed_at is null "
                      "order by seq desc limit 1", [domain, asset]).fetchone()
    if row:
        con.execute("update snapshots set dagster_run_id = ? where snapshot_id = ?", [run_id, row[0]])
        return row[0]
    draft_id = new_snapshot_id(asset)
    current = current_snapshot(con, domain, asset)
    con.execute("begin transaction")
    try:
        _insert_snapshot(con, draft_id, domain, asset, run_id)
        if current:
            con.execute("insert into snapshot_rows select ?, table_name, row_key from snapshot_rows "
                        "where snapshot_id = ?", [draft_id, current.snapshot_id])
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return draft_id


def add_to_draft(con: duckdb.DuckDBPyConnection, draft_id: str, table: str, rows: list[dict]) -> None:
    """Store rows in a draft (inside the caller's transaction)."""
    _store_rows(con, draft_id, table, rows)


def seal_draft(con: duckdb.DuckDBPyConnection, draft_id: str, parent_ids: list[str]) -> Snapshot:
    """Freeze a draft: from now on it is current for its domain and never modified."""
    return _seal(con, draft_id, parent_ids)


def get_snapshot(con: duckdb.DuckDBPyConnection, snapshot_id: str) -> Snapshot:
    row = con.execute("select snapshot_id, domain, asset, hash, created_at, dagster_run_id, parent_ids "
                      "from snapshots where snapshot_id = ?", [snapshot_id]).fetchone()
    if row is None:
        raise LookupError(f"no snapshot {snapshot_id!r}")
    return Snapshot(*row[:6], tuple(json.loads(row[6] or "[]")))


def current_snapshot(con: duckdb.DuckDBPyConnection, domain: str, asset: str) -> Snapshot | None:
    row = con.execute("select snapshot_id from current_snapshots where domain = ? and asset = ?",
                      [domain, asset]).fetchone()
    return get_snapshot(con, row[0]) if row else None


def current_snapshot_ids(con: duckdb.DuckDBPyConnection, domain: str, assets: list[str]) -> list[str]:
    """The current snapshot ids of these assets (those that have one)."""
    found = (current_snapshot(con, domain, a) for a in assets)
    return [s.snapshot_id for s in found if s]


def snapshot_table_sql(table: str) -> str:
    """A query for the rows of `table` in one snapshot (parameter: the snapshot id)."""
    return (f"select t.* exclude (row_key) from {table} t join snapshot_rows m on m.row_key = t.row_key "
            f"where m.snapshot_id = ? and m.table_name = '{table}'")
