"""The load driver, run as its own process so its threads never share a GIL with the server,
the Slack stand-in or the provider sandboxes it measures.

``python -m tests.benchmarks.load SPEC.json`` reads ``{"url", "secret", "concurrency",
"bodies", "kind"}``, sends every body once over ``concurrency`` keep-alive connections (closed
loop: each sender posts its next body when the previous one was answered), signs each body the
way Slack does when it is sent, and prints ``{"latencies", "statuses", "elapsed"}`` as JSON.
With ``--serve`` it reads one spec path a line from stdin and answers each with one JSON line,
until stdin closes: the benchmark starts it once instead of once a row. Standard library only,
so the driver's own cost per request stays small (about 0.1 ms).
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit


def sign(secret: bytes, body: bytes, timestamp: str) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret, base, hashlib.sha256).hexdigest()


def drive(
    url: str, secret: str, bodies: list[str], concurrency: int, timeout: float = 30.0
) -> dict[str, Any]:
    parts = urlsplit(url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    key = secret.encode()
    encoded = [b.encode() for b in bodies]
    lock = threading.Lock()
    position = 0
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    start_gate = threading.Barrier(concurrency + 1)

    def take() -> bytes | None:
        nonlocal position
        with lock:
            if position >= len(encoded):
                return None
            body = encoded[position]
            position += 1
            return body

    def sender() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        mine: list[float] = []
        codes: dict[str, int] = {}
        start_gate.wait()
        while (body := take()) is not None:
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": sign(key, body, timestamp),
            }
            began = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                code = str(response.status)
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                code = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=timeout)
            mine.append(time.perf_counter() - began)
            codes[code] = codes.get(code, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    start_gate.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    return {"latencies": latencies, "statuses": statuses, "elapsed": time.perf_counter() - began}


def run_spec(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    return drive(spec["url"], spec["secret"], spec["bodies"], int(spec["concurrency"]))


def main(argv: list[str]) -> int:
    if argv[1:] != ["--serve"]:
        json.dump(run_spec(argv[1]), sys.stdout)
        return 0
    for line in sys.stdin:
        sys.stdout.write(json.dumps(run_spec(line.strip())) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
