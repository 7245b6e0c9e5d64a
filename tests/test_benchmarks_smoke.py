"""The benchmark harness still runs (`python -m tests.benchmarks --quick`); timings unchecked."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_run(output: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """``python -m tests.benchmarks --quick --no-postgres`` with ``options``; it must succeed."""
    run = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "tests.benchmarks",
            "--quick",
            "--no-postgres",
            *options,
            "--output",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def test_quick_benchmark_prints_its_table(tmp_path: Path) -> None:
    output = tmp_path / "results.md"
    run = quick_run(output)
    for expected in (
        "| bare Bolt | ack only | 64 |",
        "| resetbot SQLite | file | 64 |",
        "| bare Bolt, every core busy (nice 10) | ack only | 16 |",
        "| resetbot SQLite | help | 16 |",
        "| resetbot SQLite | status | 1 |",
        "file, 2 s provider",
        "start-up to healthy",
        "Machine: CPUs",
    ):
        assert expected in run.stdout, expected
    assert output.read_text().startswith("# resetbot benchmarks")
    # The stand-ins' CPU column is filled for resetbot's rows (a number, not left blank).
    file_row = next(
        line
        for line in run.stdout.splitlines()
        if line.startswith("| resetbot SQLite | file | 16 |")
    )
    standins = file_row.split("|")[12].strip()
    assert float(standins) > 0, file_row


def test_ack_path_benchmark_prints_its_table() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.ackpath", "-n", "60", "--requests", "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for expected in (
        "| bare Bolt (listener only acks) | ",
        "| resetbot help",
        "| resetbot status",
        "| resetbot pending",
        "| resetbot file: the ack",
    ):
        assert expected in run.stdout, expected


def test_quick_benchmark_with_the_background_worker_held(tmp_path: Path) -> None:
    """The ablation stops the worker while each row is sent; its jobs still all run after."""
    run = quick_run(tmp_path / "results.md", "--pause-background")
    assert "(held while each file/status/help row is sent)" in run.stdout
    assert "| resetbot SQLite | file | 16 |" in run.stdout
    assert "NOT 200" not in run.stdout


def test_quick_benchmark_with_the_stand_ins_reniced(tmp_path: Path) -> None:
    """The ablation runs the stand-in's and the sandbox's threads at a lower priority."""
    run = quick_run(tmp_path / "results.md", "--standins-nice", "5")
    assert "--standins-nice 5" in run.stdout
    assert "| resetbot SQLite | status | 16 |" in run.stdout
    assert "NOT 200" not in run.stdout


def test_busy_cores_runs_a_loop_per_core_at_that_nice_and_leaves_none_behind() -> None:
    from tests.benchmarks.run import busy_cores

    with busy_cores(7) as loops:
        assert len(loops) == (os.cpu_count() or 1)
        for loop in loops:
            assert loop.poll() is None  # still running
            assert os.getpriority(os.PRIO_PROCESS, loop.pid) == 7
    assert all(loop.poll() is not None for loop in loops)


def test_busy_loops_stop_when_the_benchmark_is_killed_outright() -> None:
    """SIGKILL skips every ``finally``: the loops notice their parent is gone and exit."""
    script = (
        "import sys, time\n"
        "from tests.benchmarks.run import busy_cores\n"
        "with busy_cores(5) as loops:\n"
        "    print(*[loop.pid for loop in loops], flush=True)\n"
        "    time.sleep(60)\n"
    )
    bench = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert bench.stdout is not None
        pids = [int(pid) for pid in bench.stdout.readline().split()]
        assert pids
    finally:
        bench.kill()
        bench.wait()

    def spinning(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"

    deadline = time.monotonic() + 10
    while any(spinning(pid) for pid in pids):
        assert time.monotonic() < deadline, f"busy loops still running: {pids}"
        time.sleep(0.05)
