"""The README's systemd unit and nginx config, taken from the page itself, checked by the real
tools; and a real Prometheus scraping the bot."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.demo.rig import Rig, free_port, wait_for
from tests.conftest import in_ci
from tests.test_readme import README


def block(fence: str) -> str:
    found = re.findall(rf"```{fence}\n(.*?)```", README, re.S)
    assert len(found) == 1, f"the README should have exactly one {fence} block"
    return str(found[0])


def need(tool: str, package: str) -> str:
    path = shutil.which(tool) or (
        f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None
    )
    if path is None:
        reason = f"{tool} not installed (Debian package {package})"
        if in_ci():
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.mark.deployment
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    """systemd-analyze verify accepts the README's unit (paths moved under a temporary dir)."""
    analyze = need("systemd-analyze", "systemd")
    root = tmp_path / "srv"
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "resetbot").symlink_to(shutil.which("resetbot") or "/bin/true")
    unit = block("ini")
    assert "HOST=127.0.0.1" in unit and "resetbot serve" in unit and "db upgrade" in unit
    (tmp_path / "resetbot.service").write_text(unit.replace("/srv/resetbot", str(root)))
    done = subprocess.run(  # noqa: S603
        [analyze, "verify", str(tmp_path / "resetbot.service")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = [
        line
        for line in done.stderr.splitlines()
        if "resetbot.service" in line and "User=" not in line
    ]
    assert done.returncode == 0 and not problems, done.stderr


@pytest.fixture
def proxied(tmp_path: Path, rig: Rig) -> Iterator[str]:
    """nginx with the README's server block, certificates made here, in front of the rig."""
    nginx = need("nginx", "nginx")
    key, cert = tmp_path / "privkey.pem", tmp_path / "fullchain.pem"
    subprocess.run(  # noqa: S603
        [
            need("openssl", "openssl"),
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=resetbot.example.com",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    port = free_port()
    server = (
        block("nginx")
        .replace("/etc/ssl/resetbot/fullchain.pem", str(cert))
        .replace("/etc/ssl/resetbot/privkey.pem", str(key))
        .replace("listen 443 ssl", f"listen 127.0.0.1:{port} ssl")
        .replace("127.0.0.1:3000", f"127.0.0.1:{rig.server.port}")
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "daemon off;\nevents {}\n"
        f"http {{\naccess_log off;\nclient_body_temp_path {tmp_path};\n"
        f"proxy_temp_path {tmp_path};\n{server}}}\n"
    )
    args = [nginx, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")]
    checked = subprocess.run([*args, "-t"], capture_output=True, text=True, check=False)  # noqa: S603
    assert checked.returncode == 0, checked.stderr
    proc = subprocess.Popen(args, stderr=subprocess.PIPE)  # noqa: S603
    url = f"https://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url), 10, what="nginx")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _answers(url: str) -> bool:
    try:
        httpx.get(url, verify=False, timeout=1)  # noqa: S501 - our own throw-away certificate
    except httpx.TransportError:
        return False
    return True


@pytest.mark.deployment
def test_proxy_exposes_only_events_and_healthz(proxied: str, rig: Rig) -> None:
    """Through the README's nginx: /healthz and signed Slack traffic pass, /metrics does not."""
    health = httpx.get(f"{proxied}/healthz", verify=False)  # noqa: S501
    assert health.status_code == 200 and health.json()["ok"] is True
    assert httpx.get(f"{proxied}/metrics", verify=False).status_code == 404  # noqa: S501
    unsigned = httpx.post(f"{proxied}/slack/events", content=b"x=1", verify=False)  # noqa: S501
    assert unsigned.status_code == 401
    assert httpx.get(f"{rig.server.url}/metrics").status_code == 200  # on loopback it is there


def _filed_here(rig: Rig) -> float:
    text = httpx.get(f"{rig.server.url}/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "resetbot_requests_filed_total" and sample.labels == {
                "provider": "community"
            }:
                return float(sample.value)
    return 0.0


@pytest.mark.prometheus
def test_real_prometheus_scrapes_the_bot(tmp_path: Path, rig: Rig) -> None:
    """A real Prometheus server scrapes /metrics on loopback and answers a query about it."""
    prometheus = need("prometheus", "prometheus")
    # The rig counts in this process, which other tests' rigs have counted in before.
    before = _filed_here(rig)
    rig.file("alice", "community tom@example.com locked out")
    assert _filed_here(rig) == before + 1
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: resetbot\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{rig.server.port}']\n"
    )
    proc = subprocess.Popen(  # noqa: S603
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    query = f"http://127.0.0.1:{port}/api/v1/query"

    def filed() -> list[object]:
        try:
            answer = httpx.get(
                query, params={"query": 'resetbot_requests_filed_total{provider="community"}'}
            )
        except httpx.TransportError:
            return []
        if answer.status_code != 200:  # still starting up
            return []
        result: list[object] = json.loads(answer.text)["data"]["result"]
        return result

    try:
        started = time.monotonic()
        results = wait_for(
            lambda: [r for r in filed() if r["value"][1] == str(int(before + 1))],  # type: ignore[index]
            30,
            what="Prometheus to scrape the bot's count",
        )
        assert results[0]["metric"]["job"] == "resetbot", results
        assert time.monotonic() - started < 30
    finally:
        proc.terminate()
        proc.wait(10)
