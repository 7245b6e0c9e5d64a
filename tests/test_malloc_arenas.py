"""``resetbot serve`` caps glibc's malloc arenas: with threads running SQLite, the default (8
per core) let the worker's RSS creep up by fragmentation while the memory in use stayed flat."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent("""
    import ctypes, os, sqlite3, sys, tempfile, threading
    if sys.argv[1] == "capped":
        from bot.server import limit_malloc_arenas
        limit_malloc_arenas()
    db = os.path.join(tempfile.mkdtemp(), "probe.db")
    with sqlite3.connect(db) as c:
        c.execute("create table t(x)")
        c.executemany("insert into t values (?)", [(i,) for i in range(5000)])

    def work():  # SQLite releases the GIL, so these threads allocate at the same time
        conn = sqlite3.connect(db, check_same_thread=False)
        for _ in range(200):
            conn.execute("select sum(x), group_concat(x) from t").fetchall()
        conn.close()

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    out = os.path.join(os.path.dirname(db), "malloc.xml")
    fp = ctypes.c_void_p(libc.fopen(out.encode(), b"w"))
    libc.malloc_info(0, fp)
    libc.fclose(fp)
    print(open(out).read().count("<heap nr="))
""")


def arenas(mode: str) -> int:
    env = {"PATH": "/usr/bin:/bin"}  # no MALLOC_ARENA_MAX from the caller
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_serve_caps_malloc_arenas_before_threads_start() -> None:
    assert arenas("default") > 2  # the probe does make glibc open more arenas...
    assert arenas("capped") <= 2  # ...and the cap holds them to two
