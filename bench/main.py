"""Entry point: set up, run the phases, report, and stop everything that was started."""
from __future__ import annotations

import argparse
import signal
import time
from contextlib import ExitStack
from pathlib import Path

from bench.procs import ROOT, Children


def _exit_on_signal(signum: int, frame: object) -> None:
    print(f"bench: got {signal.Signals(signum).name}; stopping what it started", flush=True)
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop the children


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Job engine vs raw RQ benchmark.")
    parser.add_argument("--quick", action="store_true", help="Small sizes, one round: a smoke test (~30 s)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md",
                        help="Markdown report to write (default: BENCHMARKS.md)")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    began = time.monotonic()
    with ExitStack() as stack:
        from bench import report
        from bench import stack as stack_mod
        from bench.measure import Bench, Sizes

        load_start = report.loadavg()
        env = stack_mod.setup(stack)
        children = Children(ROOT / "var" / "bench" / "logs")
        stack.callback(children.stop_all)
        sizes = Sizes.quick() if args.quick else Sizes()
        bench = Bench(env, children, sizes)
        print(f"bench: database {env.database_url}, redis {env.redis_url}; child logs in {children.log_dir}",
              flush=True)

        bench.enqueue_single()
        bench.enqueue_bulk()
        bench.throughput(1)
        bench.throughput(2)
        bench.pickup_latency()
        from bench import engine

        engine.io_bound(bench, quick=args.quick)
        engine.startup(bench)
        engine.memory(bench, quick=args.quick)
        engine.redis_left_behind(bench, quick=args.quick)
        bench.api_latency()
        from bench import ws  # after django.setup(): it declares a job type

        ws.run(bench, quick=args.quick)
        from bench import dashboard

        dashboard.run(bench, quick=args.quick)
        bench.reset()

        report.print_table(bench.rows)
        if args.quick:
            print("--quick: BENCHMARKS.md not written")
        else:
            report.write_markdown(
                args.output, rows=bench.rows, details=bench.details, sizes=sizes, info=report.machine(),
                vers=report.versions(bench.r), load=(load_start, report.loadavg()), embedded=env.embedded,
                seconds=time.monotonic() - began,
            )
            print(f"wrote {args.output}")
        for line in bench.details:
            print(f"note: {line}")
    print(f"bench: done in {time.monotonic() - began:.0f} s")
    return 0
