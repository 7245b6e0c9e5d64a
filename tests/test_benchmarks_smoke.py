"""The benchmarks still run and print their tables (``python -m tests.benchmarks --smoke``,
``python -m tests.benchmarks.ackpath``); timings unchecked.

One smoke run serves the three table tests: it has both ablations switched on
(``--pause-background`` holds the background worker while each row is sent,
``--standins-nice`` renices the stand-ins' threads; neither changes which rows there are), so a
single run of a few seconds goes through every phase, every kind of row and both ablations.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class SmokeRun:
    stdout: str
    output: Path


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> SmokeRun:
    """``python -m tests.benchmarks --smoke --no-postgres`` with both ablations; it must succeed."""
    output = tmp_path_factory.mktemp("bench") / "results.md"
    run = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "tests.benchmarks",
            "--smoke",
            "--no-postgres",
            "--pause-background",
            "--standins-nice",
            "5",
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
    return SmokeRun(run.stdout, output)


def test_smoke_benchmark_prints_every_kind_of_row(smoke: SmokeRun) -> None:
    for expected in (
        "| bare Bolt | ack only | 1 |",
        "| bare Bolt | ack only | 64 |",
        "| bare Bolt, Bolt's defaults | ack only | 64 |",
        "| bare Bolt, every core busy (nice 10) | ack only | 64 |",
        "| resetbot SQLite | file | 64 |",
        "| resetbot SQLite | status | 1 |",
        "| resetbot SQLite | help | 64 |",
        "| resetbot SQLite | file, 0.2 s provider | 1 |",
        "| resetbot SQLite | approve (modal submit) | 16 |",
        "start-up to healthy",
        "dispatches at 0.2 s",
        "Machine: CPUs",
    ):
        assert expected in smoke.stdout, expected
    # resetbot's end-to-end, memory and start-up row
    assert re.search(r"^\| resetbot SQLite \| [0-9.]+ req/s \(4 in ", smoke.stdout, re.M)
    assert "NOT 200" not in smoke.stdout
    assert smoke.output.read_text().startswith("# resetbot benchmarks")
    # The stand-ins' CPU column is filled for resetbot's rows (a number, not left blank).
    file_row = next(
        line
        for line in smoke.stdout.splitlines()
        if line.startswith("| resetbot SQLite | file | 64 |")
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


def test_smoke_benchmark_with_the_background_worker_held(smoke: SmokeRun) -> None:
    """The ablation stops the worker while each row is sent; its jobs still all run after."""
    assert "(held while each file/status/help row is sent)" in smoke.stdout
    assert "| resetbot SQLite | file | 1 |" in smoke.stdout
    assert "NOT 200" not in smoke.stdout


def test_smoke_benchmark_with_the_stand_ins_reniced(smoke: SmokeRun) -> None:
    """The ablation runs the stand-in's and the sandbox's threads at a lower priority."""
    assert "--standins-nice 5" in smoke.stdout
    assert "| resetbot SQLite | status | 64 |" in smoke.stdout
    assert "NOT 200" not in smoke.stdout


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
