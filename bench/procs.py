"""Child processes (workers, uvicorn) that cannot outlive the bench.

Each child runs in its own session (a Ctrl-C at the terminal reaches only the
bench, which then stops its children in order) and asks the kernel for
SIGTERM if the bench dies, even by SIGKILL (PR_SET_PDEATHSIG). ``stop`` sends
SIGTERM, waits, then SIGKILLs the child's whole process group.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Children:
    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[subprocess.Popen] = []
        self._count = 0

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        self._count += 1
        log_path = self.log_dir / f"{self._count:02d}-{name}.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent,
            )
        proc.log_path = log_path  # type: ignore[attr-defined]
        proc.bench_name = name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout: float = 15.0) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the child, if still there, and anything it started
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        if proc in self.procs:
            self.procs.remove(proc)

    def wait_exit(self, procs: list[subprocess.Popen], timeout: float) -> float:
        """Wait until all ``procs`` exit; raise (with their logs) if one fails or time runs out."""
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"{proc.bench_name} still running after {timeout:.0f}s:\n"  # type: ignore[attr-defined]
                                   f"{tail(proc.log_path)}") from None  # type: ignore[attr-defined]
            if proc.returncode != 0:
                raise RuntimeError(f"{proc.bench_name} exited with {proc.returncode}:\n"  # type: ignore[attr-defined]
                                   f"{tail(proc.log_path)}")  # type: ignore[attr-defined]
        for proc in procs:
            self.stop(proc)
        return time.monotonic()

    def check_alive(self, proc: subprocess.Popen) -> None:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.bench_name} exited with {proc.returncode}:\n"  # type: ignore[attr-defined]
                               f"{tail(proc.log_path)}")  # type: ignore[attr-defined]

    def stop_all(self) -> None:
        for proc in list(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in list(self.procs):
            self.stop(proc)
