"""Retention: delete a domain's snapshots and artifact run folders that nothing needs any more.

Kept: every snapshot and artifact folder a registered model version names in its tags (and every snapshot
those were made from), the newest `keep` sealed snapshots of each asset and the newest `keep` run folders
of each artifact kind, each kind's `latest` folder and any unsealed draft (a run in progress). Content rows
no remaining snapshot holds are deleted with them.
"""

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from slm_assets.artifacts import ARTIFACT_TAG, BUNDLE_TAG, LATEST, SNAPSHOT_TAG, latest_run_dir, run_dirs
from slm_assets.snapshots import TABLE_ASSET

ARTIFACT_KINDS = ("sft", "lora", "distilled", "benchmark", "export", "synthetic_qa")


@dataclass
class RetentionPlan:
    snapshots: list[str] = field(default_factory=list)   # snapshot ids to delete
    folders: list[Path] = field(default_factory=list)    # artifact run folders to delete
    kept_for_versions: list[str] = field(default_factory=list)  # snapshot ids a registered version needs
    rows: int = 0                                        # content rows deleted (set when carried out)
    files: int = 0
    file_bytes: int = 0
    warehouse_bytes: int = 0                             # DuckDB blocks freed after a checkpoint

    def describe(self, dry_run: bool) -> str:
        verb = "would free" if dry_run else "freed"
        rows = "" if dry_run else f", {self.rows} rows, {self.warehouse_bytes / 2**20:.2f} MB of warehouse"
        return (f"{verb}: {len(self.snapshots)} snapshots{rows}; {len(self.folders)} artifact folders, "
                f"{self.files} files, {self.file_bytes / 2**20:.2f} MB; kept {len(self.kept_for_versions)} "
                "snapshots that registered versions need")


def needed_by_versions(version_tags: list[dict[str, str]]) -> tuple[set[str], set[Path]]:
    """Snapshot ids and artifact folders named by registered versions' tags."""
    snapshots, folders = set(), set()
    for tags in version_tags:
        for key, value in tags.items():
            if key.startswith(SNAPSHOT_TAG) and not key.endswith(".hash"):
                snapshots.add(value)
            elif key.startswith(ARTIFACT_TAG) or key == BUNDLE_TAG:
                folders.add(Path(value).resolve())
    return snapshots, folders


def _with_parents(con, snapshot_ids: set[str]) -> set[str]:
    found, todo = set(), list(snapshot_ids)
    while todo:
        snapshot_id = todo.pop()
        if snapshot_id in found:
            continue
        found.add(snapshot_id)
        row = con.execute("select parent_ids from snapshots where snapshot_id = ?", [snapshot_id]).fetchone()
        todo.extend(json.loads(row[0] or "[]") if row else [])
    return found


def plan_retention(con, artifacts_dir: Path, domain: str, keep: int, version_tags: list[dict[str, str]]) -> RetentionPlan:
    """What gc would delete (nothing is deleted here)."""
    needed_snapshots, needed_folders = needed_by_versions(version_tags)
    newest = {r[0] for r in con.execute(
        """select snapshot_id from (select snapshot_id, sealed_at, row_number() over
           (partition by asset order by seq desc) as rank from snapshots where domain = ?)
           where rank <= ? or sealed_at is null""", [domain, keep]).fetchall()}
    kept = _with_parents(con, needed_snapshots | newest)
    plan = RetentionPlan(kept_for_versions=sorted(_with_parents(con, needed_snapshots)))
    plan.snapshots = sorted(r[0] for r in con.execute("select snapshot_id from snapshots where domain = ?",
                                                      [domain]).fetchall() if r[0] not in kept)
    for kind in ARTIFACT_KINDS:
        kind_dir = Path(artifacts_dir) / domain / kind
        folders = sorted(run_dirs(kind_dir), key=lambda p: p.stat().st_mtime, reverse=True)
        latest = latest_run_dir(kind_dir).resolve() if (kind_dir / LATEST).exists() else None
        for rank, folder in enumerate(folders):
            if rank >= keep and folder.resolve() not in needed_folders and folder.resolve() != latest:
                plan.folders.append(folder)
    for folder in plan.folders:
        files = [p for p in folder.rglob("*") if p.is_file()]
        plan.files += len(files)
        plan.file_bytes += sum(p.stat().st_size for p in files)
    return plan


def _used_bytes(con) -> int:
    con.execute("checkpoint")
    used, block_size = con.execute("select used_blocks, block_size from pragma_database_size()").fetchone()
    return int(used) * int(block_size)


def carry_out(con, plan: RetentionPlan, domain: str) -> RetentionPlan:
    """Delete what the plan lists: snapshots and their memberships, then rows no snapshot holds, then folders."""
    before = _used_bytes(con)
    con.execute("begin transaction")
    try:
        for snapshot_id in plan.snapshots:
            con.execute("delete from snapshot_rows where snapshot_id = ?", [snapshot_id])
            con.execute("delete from snapshots where snapshot_id = ?", [snapshot_id])
        for table in TABLE_ASSET:
            plan.rows += con.execute(
                f"""delete from {table} t where t.domain = ? and not exists (select 1 from snapshot_rows m
                    where m.table_name = '{table}' and m.row_key = t.row_key)""", [domain]).fetchone()[0]
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    plan.warehouse_bytes = max(0, before - _used_bytes(con))
    for folder in plan.folders:
        shutil.rmtree(folder)
    return plan
