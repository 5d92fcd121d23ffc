"""The DuckDB warehouse: one file, one schema, every table keyed by domain.

The tables an asset writes (documents, chunks, QA pairs, SFT examples ...) are versioned: rows are stored
once by content hash and each materialisation adds an immutable snapshot (`slm_assets.snapshots`);
readers use the `current_<table>` views. `teacher_calls` is a cache of calls made (never versioned).
"""

import errno
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

log = logging.getLogger(__name__)

SCHEMA = [
    """
    create table if not exists raw_documents (
        row_key varchar primary key,      -- content hash: slm_assets.snapshots.row_key
        domain varchar not null,
        doc_id varchar not null,          -- sha256 of the source bytes (16 hex)
        source varchar not null,          -- URL or absolute path
        source_type varchar not null,     -- url | file | inbox
        title varchar,
        text varchar not null,
        parser varchar not null,          -- html | pdf | markdown | rst | text
        content_type varchar,
        language varchar,
        http_status integer,
        etag varchar,
        last_modified varchar,
        n_bytes bigint,
        page_count integer,
        page_spans json,                  -- [[page, char_start, char_end], ...] in text
        metadata json,
        fetched_at timestamp not null
    )""",
    """
    create table if not exists ingest_failures (
        row_key varchar primary key,      -- content hash: slm_assets.snapshots.row_key
        domain varchar not null,
        source varchar not null,
        stage varchar not null,           -- fetch | parse | robots | policy
        reason varchar not null,
        failed_at timestamp not null,
        error_type varchar                -- the exception's class (ParseError, OSError, a parser bug's)
    )""",
    "alter table ingest_failures add column if not exists error_type varchar",
    """
    create table if not exists clean_documents (
        row_key varchar primary key,      -- content hash: slm_assets.snapshots.row_key
        domain varchar not null,
        doc_id varchar not null,
        text varchar not null,            -- cleaned text; chunk offsets point into it
        page_spans json,
        cluster_id varchar not null,      -- near-duplicate cluster (its first member's doc_id)
        config_hash varchar,              -- cleaning + chunking settings and tokenizer the chunks were made with
        chunks_rejected integer           -- this document's chunks removed as too short or duplicates
    )""",
    # warehouses created before config_hash existed
    "alter table clean_documents add column if not exists config_hash varchar",
    "alter table clean_documents add column if not exists chunks_rejected integer",
    """
    create table if not exists clean_chunks (
        row_key varchar primary key,      -- content hash: slm_assets.snapshots.row_key
        domain varchar not null,
        chunk_id varchar not null,        -- hash of (doc_id, span, text)
        doc_id varchar not null,
        chunk_index integer not null,
        text varchar not null,
        n_tokens integer not null,
        heading varchar,
        page_start integer,
        page_end integer,
        char_start integer not null,      -- offsets in clean_documents.text
        char_end integer not null,
        source varchar not null,
        cluster_id varchar not null       -- near-duplicate cluster among chunks
    )""",
    """
    create table if not exists curation_rejections (
        row_key varchar primary key,      -- content hash: slm_assets.snapshots.row_key
        domain varchar not null,
        item_id varchar not null,         -- doc_id or chunk_id
        level varchar not null,           -- document | chunk
        rule varchar not null,
        detail varchar
    )""",
    """
    create table if not exists qa_pairs (
        row_key varchar primary key,      -- content hash: slm_assets.snapshots.row_key
        domain varchar not null,
        qa_id varchar not null,
        status varchar not null,          -- accepted | rejected
        reject_reason varchar,
        question varchar not null,
        answer varchar not null,
        question_type varchar,
        chunk_id varchar not null,
        doc_id varchar not null,
        source varchar,
        page_start integer,
        template_id varchar,
        template_version varchar,
        teacher_provider varchar,
        teacher_model varchar,
        temperature double,
        seed bigint,
        prompt_tokens integer,
        completion_tokens integer,
        latency_s double,
        call_key varchar,
        created_at timestamp not null
    )""",
    """
    create table if not exists teacher_calls (
        domain varchar not null,
        call_key varchar not null,        -- hash of (chunk, template, teacher, prompt version)
        chunk_id varchar not null,
        status varchar not null,          -- ok | invalid | error
        detail varchar,
        prompt_tokens integer,
        completion_tokens integer,
        latency_s double,
        created_at timestamp not null,
        primary key (domain, call_key)
    )""",
    """
    create table if not exists sft_examples (
        row_key varchar primary key,      -- content hash: slm_assets.snapshots.row_key
        domain varchar not null,
        qa_id varchar not null,
        split varchar not null,           -- train | val | test
        doc_id varchar not null
    )""",
]


@contextmanager
def connect(path: Path, read_only: bool = False, wait_s: float = 120.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse, waiting while another process holds DuckDB's write lock."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, read_only, wait_s)
    if read_only and needs_migration(con):  # from before snapshots: migrate once with write access, then read
        con.close()
        _migrate(path, wait_s)
        con = _open(path, read_only, wait_s)
    try:
        if not read_only:
            create_schema(con)
        yield con
    except (duckdb.IOException, OSError) as exc:  # a full or read-only disk: say where and how much is free
        from slm_assets.storage import WriteFailed, free_space, is_disk_full_or_read_only

        if not is_disk_full_or_read_only(exc):
            raise
        raise WriteFailed(errno.EIO, f"warehouse {path}: {exc} ({free_space(path)}); its earlier rows are "
                                     "unchanged (the write was one transaction)") from exc
    finally:
        con.close()


class WarehouseNeedsMigration(RuntimeError):
    """A warehouse from before versioned snapshots, opened read-only where it cannot be written."""


def _open(path: Path, read_only: bool, wait_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            log.info("warehouse %s is locked by another process; waiting", path)
            time.sleep(0.5)


def needs_migration(con: duckdb.DuckDBPyConnection) -> bool:
    """The warehouse holds tables from before versioned snapshots (no current_* views yet)."""
    from slm_assets.snapshots import TABLE_ASSET

    views = {r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()}
    return any(_columns(con, t) for t in TABLE_ASSET) and any(f"current_{t}" not in views for t in TABLE_ASSET)


def _migrate(path: Path, wait_s: float) -> None:
    try:
        con = _open(path, False, wait_s)
    except (duckdb.IOException, duckdb.PermissionException, OSError) as exc:
        raise WarehouseNeedsMigration(f"warehouse {path} is from before versioned snapshots and cannot be opened read-only "
                             f"until it is migrated, which needs write access once ({exc}); run any "
                             "`slm-assets materialize` on it with write access") from exc
    try:
        log.info("warehouse %s is from before versioned snapshots: migrating it before reading", path)
        create_schema(con)
    finally:
        con.close()


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Tables, snapshot tables and current_* views; a warehouse from before snapshots is migrated."""
    from slm_assets.snapshots import SCHEMA as SNAPSHOT_SCHEMA
    from slm_assets.snapshots import TABLE_ASSET, current_view_sql

    legacy = [t for t in TABLE_ASSET if _columns(con, t) and "row_key" not in _columns(con, t)]
    for table in legacy:
        con.execute(f"alter table {table} rename to legacy_{table}")
    for ddl in SCHEMA + SNAPSHOT_SCHEMA + [current_view_sql(t) for t in TABLE_ASSET]:
        con.execute(ddl)
    if legacy:
        _import_legacy_tables(con, legacy)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute("select column_name from information_schema.columns "
                                      "where table_name = ? and table_schema = 'main'", [table]).fetchall()]


def _import_legacy_tables(con: duckdb.DuckDBPyConnection, legacy: list[str]) -> None:
    """Each domain's rows of a pre-snapshot table become that domain's first snapshot of the asset."""
    from slm_assets.snapshots import VERSIONED_TABLES, write_snapshot

    for asset, tables in VERSIONED_TABLES.items():
        present = [t for t in tables if t in legacy]
        if not present:
            continue
        domains = {r[0] for t in present for r in con.execute(f"select distinct domain from legacy_{t}").fetchall()}
        for domain in sorted(domains):
            rows = {t: fetch_dicts(con, f"select * from legacy_{t} where domain = ?", [domain]) if t in present
                    else [] for t in tables}
            write_snapshot(con, domain, asset, rows, run_id=None, parent_ids=[])
            log.info("warehouse migrated: %s rows of %s are its first %s snapshot", domain, present, asset)
    for table in legacy:
        con.execute(f"drop table legacy_{table}")


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    placeholders = ", ".join("?" for _ in columns)
    con.executemany(
        f"insert into {table} ({', '.join(columns)}) values ({placeholders})",
        [[row[c] for c in columns] for row in rows],
    )


def fetch_dicts(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None) -> list[dict]:
    cursor = con.execute(query, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def chunk_texts(con: duckdb.DuckDBPyConnection, domain: str) -> dict[str, str]:
    """chunk_id -> text of the domain's current clean chunks."""
    return dict(con.execute("select chunk_id, text from current_clean_chunks where domain = ?", [domain]).fetchall())


def document_sources(con: duckdb.DuckDBPyConnection, domain: str) -> dict[str, str]:
    """doc_id -> the current document's stored source (path or URL)."""
    return dict(con.execute("select doc_id, source from current_raw_documents where domain = ?",
                            [domain]).fetchall())


def chunks_with_titles(con: duckdb.DuckDBPyConnection, domain: str) -> list[dict]:
    """The domain's current clean chunks with their document's title, in chunk id order."""
    return fetch_dicts(
        con,
        """select c.chunk_id, c.doc_id, c.text, c.heading, c.source, c.page_start, d.title
           from current_clean_chunks c join current_raw_documents d on d.domain = c.domain and d.doc_id = c.doc_id
           where c.domain = ? order by c.chunk_id""",
        [domain],
    )


def reusable_chunks(con: duckdb.DuckDBPyConnection, domain: str, config_hash: str) -> dict[str, list[dict]]:
    """doc_id -> current chunks of documents chunked under `config_hash` with no chunk rejected (reused as is)."""
    previous: dict[str, list[dict]] = {}
    for row in fetch_dicts(
        con,
        """select c.* from current_clean_chunks c
           join current_clean_documents d on d.domain = c.domain and d.doc_id = c.doc_id
           where c.domain = ? and d.config_hash = ? and d.chunks_rejected = 0""",
        [domain, config_hash],
    ):
        previous.setdefault(row["doc_id"], []).append(row)
    return previous


def qa_pair_stats(con: duckdb.DuckDBPyConnection, domain: str) -> dict:
    """Counts of the domain's current QA pairs: by status, rejections by reason (first word), accepted by
    question type, and the accepted (question, answer) pairs."""
    totals = con.execute(
        "select status, count(*) from current_qa_pairs where domain = ? group by status", [domain]
    ).fetchall()
    reasons = con.execute(
        """select split_part(reject_reason, ' ', 1) as reason, count(*) from current_qa_pairs
           where domain = ? and status = 'rejected' group by reason order by 2 desc""", [domain]
    ).fetchall()
    types = con.execute(
        """select question_type, count(*) from current_qa_pairs where domain = ? and status = 'accepted'
           group by 1 order by 2 desc""", [domain]
    ).fetchall()
    accepted = con.execute(
        "select question, answer from current_qa_pairs where domain = ? and status = 'accepted'", [domain]).fetchall()
    return {"by_status": dict(totals), "rejected_by_reason": dict(reasons), "question_types": dict(types),
            "accepted_pairs": accepted}
