"""`make bench`: the job engine measured beside raw RQ on the same Redis, in one run.

Run as ``python -m bench``. Uses DATABASE_URL / REDIS_URL when set, otherwise
starts an embedded PostgreSQL and Valkey (devstack.services). It creates its
own database (``jobqueue_bench``, dropped and recreated) and its own Redis db
number (``BENCH_REDIS_DB``, default 11, flushed between phases), prints a
table and writes BENCHMARKS.md at the repository root.

Modules: ``stack`` (servers, database, Django set-up), ``procs`` (child
processes that never outlive the bench), ``measure`` (the phases),
``report`` (machine, versions, table, BENCHMARKS.md), ``rqjobs`` (the raw RQ
no-op; imports nothing of the project so the raw worker stays raw).
"""
