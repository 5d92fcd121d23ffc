"""deploy/dagster.postgres.yaml on a real PostgreSQL server (Debian's binaries, 127.0.0.1, a free port)."""

import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import dagster as dg
import pytest
import yaml

from slm_assets.settings import PROJECT_ROOT
from slm_assets_tests.helpers import tiny_corpus, write_domain

POSTGRES_YAML = PROJECT_ROOT / "deploy" / "dagster.postgres.yaml"


def _postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL bin/ folder (initdb and pg_ctl are not on PATH there)."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    found.sort(key=lambda p: [int(n) for n in re.findall(r"\d+", p)])
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_server():
    """A throw-away server: initdb into a temp dir, pg_ctl start on 127.0.0.1, stopped and removed after the test.

    PostgreSQL refuses to run as root, so as root it runs as the `postgres` user (runuser) in a temp dir owned by
    it (pytest's tmp_path lives under a 0700 folder of root's, hence tempfile under /tmp).
    """
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found (apt-get install postgresql; .ci/run does it)")
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="slm-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")  # created by Debian's postgresql package
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    password = secrets.token_hex(12)
    pwfile = root / "pw"
    pwfile.write_text(password + "\n")
    if as_user:
        os.chown(pwfile, pwd.getpwnam("postgres").pw_uid, -1)
    data, port = root / "data", _free_port()

    def pg(*args: str, timeout: float = 90) -> None:
        subprocess.run([*as_user, *args], check=True, timeout=timeout, capture_output=True, cwd=root)

    started = False
    try:
        # scram on TCP: the password really is checked, as it would be on a server
        pg(str(bin_dir / "initdb"), "-D", str(data), "-U", "dagster", f"--pwfile={pwfile}", "--auth-local=trust",
           "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync")
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off -c full_page_writes=off"
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-o", options, "-w", "-t", "60",
           "start")
        started = True
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=port, user="dagster", password=password, dbname="postgres")
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute("create database slm_dagster")
        con.close()
        yield {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(port), "DAGSTER_PG_DB": "slm_dagster",
               "DAGSTER_PG_USERNAME": "dagster", "DAGSTER_PG_PASSWORD": password}
    except subprocess.CalledProcessError as e:
        log = root / "server.log"
        pytest.fail(f"{e.cmd[len(as_user)]} failed: {e.stderr.decode()[-2000:]}"
                    + (log.read_text()[-2000:] if log.exists() else ""))
    finally:
        if started:
            try:
                pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "60", "stop")
            except subprocess.SubprocessError:
                pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_postgres_yaml_keeps_the_instance_settings_of_dagster_yaml():
    postgres = yaml.safe_load(POSTGRES_YAML.read_text())
    sqlite = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    assert set(postgres.pop("storage")) == {"postgres"}
    assert postgres == sqlite


def test_a_materialisation_is_stored_in_and_read_back_from_postgres(postgres_server, tmp_path, monkeypatch,
                                                                    resources_for):
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    from slm_assets.definitions import defs

    for key, value in postgres_server.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(POSTGRES_YAML, home / "dagster.yaml")
    corpus = tiny_corpus(tmp_path / "corpus", n_html=3, n_pdf=0)
    write_domain(tmp_path / "domains", "tiny", [str(corpus)])
    raw_docs = defs().get_assets_def(dg.AssetKey("raw_docs"))

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        instance.add_dynamic_partitions("domain", ["tiny"])
        result = dg.materialize([raw_docs], partition_key="tiny", instance=instance,
                                resources=resources_for(tmp_path / "domains", tmp_path / "warehouse"))
        assert result.success

    # a fresh instance object: whatever it sees came from the database
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_dynamic_partitions("domain") == ["tiny"]
        event = instance.get_latest_materialization_event(dg.AssetKey("raw_docs"))
        assert event is not None and event.run_id == result.run_id
        materialization = event.asset_materialization
        assert materialization.partition == "tiny"
        assert materialization.metadata["documents"].value == 3
        assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.SUCCESS
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey("raw_docs"), "has_documents")])
        assert check[dg.AssetCheckKey(dg.AssetKey("raw_docs"), "has_documents")].run_id == result.run_id

        # the instance settings of the yaml, and the `gpu` pool limit of 1 enforced by Postgres
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        storage = instance.event_log_storage
        assert storage.supports_global_concurrency_limits
        storage.initialize_concurrency_limit_to_default("gpu")
        assert storage.claim_concurrency_slot("gpu", "run-a", "lora_adapter").is_claimed
        assert not storage.claim_concurrency_slot("gpu", "run-b", "lora_adapter").is_claimed
        storage.free_concurrency_slots_for_run("run-a")
        assert storage.claim_concurrency_slot("gpu", "run-b", "lora_adapter").is_claimed

    # and in the tables themselves, read with plain SQL
    import psycopg2

    con = psycopg2.connect(host="127.0.0.1", port=int(postgres_server["DAGSTER_PG_PORT"]), dbname="slm_dagster",
                           user="dagster", password=postgres_server["DAGSTER_PG_PASSWORD"])
    with con, con.cursor() as cur:
        cur.execute("select status from runs where run_id = %s", [result.run_id])
        assert cur.fetchone() == ("SUCCESS",)
        cur.execute("""select count(*) from event_logs where run_id = %s and partition = 'tiny'
                       and dagster_event_type = 'ASSET_MATERIALIZATION' and asset_key like '%%raw_docs%%'""",
                    [result.run_id])
        assert cur.fetchone() == (1,)
    con.close()
