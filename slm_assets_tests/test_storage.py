"""A full or read-only disk: the write fails naming the path and the free space; nothing earlier is lost."""

import errno
import os

import duckdb
import pytest

from slm_assets import snapshots, warehouse
from slm_assets.snapshots import write_snapshot
from slm_assets.storage import WriteFailed, replaced_atomically, write_text_atomically


def _no_space(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_keeps_the_previous_file_and_names_path_and_free_space(tmp_path, monkeypatch):
    report = tmp_path / "report.json"
    report.write_text('{"version": 1}')
    monkeypatch.setattr(os, "fsync", _no_space)  # the fault, injected where the bytes reach the disk
    with pytest.raises(WriteFailed) as failed:
        write_text_atomically(report, '{"version": 2}')
    message = str(failed.value)
    assert str(report) in message and "no space left on the device" in message and "MiB free of" in message
    assert failed.value.errno == errno.ENOSPC
    assert report.read_text() == '{"version": 1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]  # no temporary file left


def test_read_only_failure_inside_a_folder_write_keeps_the_previous_folder(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"old weights")
    with pytest.raises(WriteFailed, match="read-only") as failed, replaced_atomically(adapter) as staging:
        staging.mkdir()
        (staging / "adapter_model.safetensors").write_bytes(b"half of the new")
        raise OSError(errno.EROFS, "Read-only file system")
    assert str(adapter) in str(failed.value)
    assert (adapter / "adapter_model.safetensors").read_bytes() == b"old weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]


def test_folder_is_replaced_whole_when_the_write_succeeds(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "stale_file").write_text("from the previous version")
    with replaced_atomically(adapter) as staging:
        staging.mkdir()
        (staging / "adapter_model.safetensors").write_bytes(b"new weights")
    assert sorted(p.name for p in adapter.iterdir()) == ["adapter_model.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]


def test_warehouse_write_on_a_full_disk_names_the_file_and_keeps_the_rows(tmp_path, monkeypatch):
    path = tmp_path / "slm.duckdb"
    row = {"domain": "d", "source": "a.html", "stage": "parse", "reason": "x", "failed_at": "2026-11-29 12:00:00",
           "error_type": None}
    with warehouse.connect(path) as con:
        write_snapshot(con, "d", "raw_docs", {"raw_documents": [], "ingest_failures": [row]}, None, [])

    def disk_full(*_args):
        raise duckdb.IOException("Could not write file: No space left on device")

    monkeypatch.setattr(snapshots, "_store_rows", disk_full)
    with pytest.raises(WriteFailed) as failed, warehouse.connect(path) as con:
        write_snapshot(con, "d", "raw_docs", {"raw_documents": [], "ingest_failures": [{**row, "source": "b.html"}]},
                       None, [])
    assert str(path) in str(failed.value) and "MiB free of" in str(failed.value)
    with warehouse.connect(path, read_only=True) as con:
        assert con.execute("select source from current_ingest_failures").fetchall() == [("a.html",)]
