"""PostgreSQL restarts under running workers and a scheduler: every job still completes.

Runs against a private embedded PostgreSQL (never the shared server), since
it is stopped mid-test.
"""
import subprocess
import sys

import psycopg

from tests.conftest import ROOT, wait_for


def statuses(url: str) -> dict[str, int]:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return dict(conn.execute("SELECT status, count(*) FROM jobs_queuejob GROUP BY status").fetchall())
    except psycopg.OperationalError:
        return {}


def test_jobs_complete_across_a_postgresql_restart(processes, tmp_path):
    from devstack.services import start_postgres

    pg = start_postgres(tmp_path / "pg", dbname="restart")
    port = pg.port
    try:
        env = processes.env(DATABASE_URL=pg.url, JOB_LEASE_SECONDS="2", JOB_RECONCILE_AFTER="1")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        processes.worker(env=env)
        processes.scheduler(env=env)
        for _ in range(5):
            subprocess.run([sys.executable, "manage.py", "enqueue_job", "demo.sleep", "--payload",
                            '{"seconds": 1, "steps": 4}'], cwd=ROOT, env=env, check=True, capture_output=True)
        wait_for(lambda: statuses(pg.url).get("active"), timeout=15, message="a job to be running")

        pg.stop()
        pg = start_postgres(tmp_path / "pg", port=port, dbname="restart")

        wait_for(lambda: statuses(pg.url) == {"completed": 5}, timeout=60,
                 message="all five jobs to complete after the restart")
        with psycopg.connect(pg.url) as conn:
            outcomes = [row[0] for row in conn.execute("SELECT outcome FROM jobs_jobattempt")]
        assert outcomes.count("completed") == 5
        assert set(outcomes) <= {"completed", "lost"}
    finally:
        pg.stop()
