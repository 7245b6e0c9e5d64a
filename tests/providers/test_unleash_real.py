"""The Unleash client against real unleash-server 7.x and 8.x from npm, on loopback PostgreSQL."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from providers.base import (
    Account,
    BadCredentials,
    InsufficientPermission,
    NotFound,
    RateLimited,
)
from providers.http import RetryPolicy
from providers.settings import UnleashSettings
from providers.unleash import ENDPOINT_LIMIT_PER_MINUTE, UnleashProvider

pytestmark = [pytest.mark.unleash, pytest.mark.slow, pytest.mark.timeout(900)]
ROOT_ADMIN, ROOT_EDITOR = 1, 2

VERSIONS = ("7.5.1", "8.2.0")  # one of each major in use
CACHE_ROOT = Path(os.environ.get("RESETBOT_UNLEASH_DIR") or Path.home() / ".cache" / "resetbot")
PASSWORD = f"Pw-{secrets.token_urlsafe(12)}-9x"


def cache_dir(version: str) -> Path:
    return CACHE_ROOT / f"unleash-{version}"


def server_js(version: str) -> Path:
    return cache_dir(version) / "node_modules" / "unleash-server" / "dist" / "server.js"


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip locally; in CI a missing prerequisite is a failure, never a silent skip."""
    if in_ci():
        pytest.fail(f"CI=true but the real-Unleash test cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def install_unleash(version: str) -> Path:
    """unleash-server ``version`` in its cache directory: installed once, reused afterwards."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            unavailable(f"`{tool}` is not installed (Node >= 20 is needed for unleash-server)")
    cache = cache_dir(version)
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel sessions install once
        if not server_js(version).exists():
            result = subprocess.run(  # noqa: S603 - fixed arguments
                ["npm", "install", "--no-audit", "--no-fund", f"unleash-server@{version}"],  # noqa: S607
                cwd=cache,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if result.returncode != 0 or not server_js(version).exists():
                tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
                unavailable(f"npm install unleash-server@{version} failed: {' | '.join(tail)}")
    return server_js(version)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class RealUnleash:
    version: str
    url: str
    admin_token: str  # the legacy admin API token the server was started with
    admin_pat: str  # an Admin user's personal access token: what Unleash recommends
    editor_token: str
    client_token: str

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def provider(self, token: str, **options: object) -> UnleashProvider:
        settings = UnleashSettings.model_validate(
            {"kind": "unleash", "base_url": self.url, "token": token, **options}
        )
        return UnleashProvider(
            name="flags", settings=settings, retry=RetryPolicy(max_retries=1, base_delay=0.05)
        )

    def add_user(self, email: str, name: str, role: int = 3) -> None:
        response = httpx.post(
            f"{self.url}/api/admin/user-admin",
            headers={"Authorization": self.admin_token},
            json={"email": email, "name": name, "rootRole": role, "sendEmail": False},
        )
        assert response.status_code == 201, response.text


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new, empty database (libpq URL), dropped afterwards."""
    name = f"resetbot_unleash_{secrets.token_hex(6)}"
    base = make_url(admin_url).set(drivername="postgresql")
    admin = base.render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def wait_until_healthy(
    url: str, process: subprocess.Popen[bytes], log: Path, deadline_s: float = 90.0
) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-10:]
            pytest.fail(f"unleash-server exited ({process.returncode}): " + " | ".join(tail))
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(0.2)  # a pause that ends early if the server dies
    pytest.fail(f"unleash-server was not healthy within {deadline_s:.0f} s; see {log}")


def personal_token(url: str, admin_token: str, email: str, role: int) -> str:
    """A personal access token of a new user with root ``role``: password via a reset link,
    log in, create the token."""
    admin = {"Authorization": admin_token}
    created = httpx.post(
        f"{url}/api/admin/user-admin",
        headers=admin,
        json={"email": email, "name": email.split("@")[0], "rootRole": role, "sendEmail": False},
    )
    assert created.status_code == 201, created.text
    link = httpx.post(
        f"{url}/api/admin/user-admin/reset-password", headers=admin, json={"id": email}
    ).json()["resetPasswordUrl"]
    token = httpx.URL(link).params["token"]
    done = httpx.post(f"{url}/auth/reset/password", json={"token": token, "password": PASSWORD})
    assert done.status_code == 200, done.text
    with httpx.Client(base_url=url) as session:
        login = session.post("/auth/simple/login", json={"username": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        pat = session.post(
            "/api/admin/user/tokens",
            json={"description": "resetbot test", "expiresAt": "2099-01-01T00:00:00Z"},
        )
        assert pat.status_code == 201, pat.text
        secret: str = pat.json()["secret"]
    return secret


def client_token(url: str, admin_token: str) -> str:
    response = httpx.post(
        f"{url}/api/admin/api-tokens",
        headers={"Authorization": admin_token},
        json={
            "tokenName": "backend",
            "type": "client",
            "environment": "development",
            "projects": ["*"],
        },
    )
    assert response.status_code == 201, response.text
    secret: str = response.json()["secret"]
    return secret


@pytest.fixture(scope="session", params=VERSIONS)
def real_unleash(
    request: pytest.FixtureRequest, pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealUnleash]:
    """unleash-server on a free loopback port against a fresh database; stopped at the end."""
    version: str = request.param
    script = install_unleash(version)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    admin_token = f"*:*.{secrets.token_hex(24)}"
    log = tmp_path_factory.mktemp("unleash") / "server.log"
    with fresh_database(pg_admin_url) as database_url, open(log, "wb") as out:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", ""),
            "DATABASE_URL": database_url,
            "DATABASE_SSL": "false",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(port),
            "UNLEASH_URL": url,
            "INIT_ADMIN_API_TOKENS": admin_token,  # taken because the database is new
            "CHECK_VERSION": "false",
            "SEND_TELEMETRY": "false",
            "NODE_ENV": "production",
        }
        process = subprocess.Popen(  # noqa: S603 - fixed arguments
            ["node", str(script.relative_to(cache_dir(version)))],  # noqa: S607
            cwd=cache_dir(version),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until_healthy(url, process, log)
            yield RealUnleash(
                version,
                url,
                admin_token,
                personal_token(url, admin_token, "ada.admin@example.com", ROOT_ADMIN),
                personal_token(url, admin_token, "ed.editor@example.com", ROOT_EDITOR),
                client_token(url, admin_token),
            )
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def test_reset_link_is_accepted_by_unleash_for_the_right_email(real_unleash: RealUnleash) -> None:
    """The delivered link validates, at Unleash itself, for the user that was reset."""
    real_unleash.add_user("Ann.Lee@Example.com", "Ann Lee")
    provider = real_unleash.provider(real_unleash.admin_pat)
    account = provider.resolve("ann.lee@example.com")
    assert account == Account("ann.lee@example.com", "ann.lee@example.com", "Ann Lee")
    result = provider.perform("reset", account)
    assert result.secret is not None and result.details["link_verified"] is True
    token = httpx.URL(result.secret.get_secret_value()).params["token"]
    checked = httpx.get(f"{real_unleash.url}/auth/reset/validate", params={"token": token})
    assert checked.status_code == 200 and checked.json()["email"] == "ann.lee@example.com"
    provider.close()


def test_unknown_user_is_not_found(real_unleash: RealUnleash) -> None:
    """Neither the look-up nor the reset finds a user nobody created."""
    provider = real_unleash.provider(real_unleash.admin_pat)
    with pytest.raises(NotFound):
        provider.resolve("nobody@example.com")
    with pytest.raises(NotFound):
        provider.perform("reset", Account("nobody@example.com", "nobody@example.com"))
    provider.close()


def test_bad_token_is_bad_credentials(real_unleash: RealUnleash) -> None:
    """A token Unleash never issued is refused."""
    provider = real_unleash.provider("*:*.not-a-real-token")
    with pytest.raises(BadCredentials, match="check `token`"):
        provider.perform("reset", Account("ann.lee@example.com", "ann.lee@example.com"))
    assert not provider.check_credentials().ok
    provider.close()


@pytest.mark.parametrize("which", ["editor_token", "client_token"])
def test_non_admin_tokens_lack_permission(real_unleash: RealUnleash, which: str) -> None:
    """An Editor's PAT and a backend token cannot reset, and fail the credential check."""
    provider = real_unleash.provider(getattr(real_unleash, which))
    with pytest.raises(InsufficientPermission):
        provider.perform("reset", Account("ann.lee@example.com", "ann.lee@example.com"))
    check = provider.check_credentials()
    assert not check.ok and "insufficient permission" in check.detail
    provider.close()


@pytest.mark.parametrize("which", ["admin_pat", "admin_token"])
def test_admin_tokens_pass_the_credential_check(real_unleash: RealUnleash, which: str) -> None:
    """admin-count answers an Admin's personal access token and the legacy admin token."""
    provider = real_unleash.provider(getattr(real_unleash, which))
    assert provider.check_credentials().ok
    provider.close()


def test_admin_user_is_privileged(real_unleash: RealUnleash) -> None:
    """The look-up reads the root role: an Admin is privileged, a Viewer is not."""
    real_unleash.add_user("root.rita@example.com", "Root Rita", role=ROOT_ADMIN)
    real_unleash.add_user("vic.viewer@example.com", "Vic Viewer")
    provider = real_unleash.provider(real_unleash.admin_pat)
    assert provider.resolve("root.rita@example.com").privileged
    assert not provider.resolve("vic.viewer@example.com").privileged
    provider.close()


def test_second_reset_within_a_minute_is_rate_limited(real_unleash: RealUnleash) -> None:
    """Unleash allows one reset per user per minute: the second is RateLimited(60)."""
    real_unleash.add_user("rita@example.com", "Rita Rate")
    provider = real_unleash.provider(real_unleash.admin_pat, verify_link=False)
    account = provider.resolve("rita@example.com")
    provider.perform("reset", account)
    with pytest.raises(RateLimited, match="one password reset per user per minute") as info:
        provider.perform("reset", account)
    assert info.value.retry_after == 60.0
    provider.close()


def test_reset_endpoint_limit_and_retry_after(real_unleash: RealUnleash) -> None:
    """8.x takes 20 reset calls a minute per client (not-found ones count) and then answers
    429 with Retry-After, which the error carries; 7.x has no such limit. Runs last: it uses up
    the minute's budget."""
    provider = real_unleash.provider(real_unleash.admin_pat, verify_link=False)
    nobody = Account("nobody@example.com", "nobody@example.com")
    limited: RateLimited | None = None
    for _ in range(ENDPOINT_LIMIT_PER_MINUTE + 2):
        try:
            provider.perform("reset", nobody)
        except NotFound:
            continue
        except RateLimited as exc:
            limited = exc
            break
    if real_unleash.major < 8:
        assert limited is None
    else:
        assert limited is not None and "20 calls a minute" in str(limited)
        assert limited.retry_after is not None and 0 < limited.retry_after <= 60
    provider.close()
