"""Configuration: the TOML file, RESETBOT_* and SLACK_* variables, .env, and its problem lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import (
    ConfigError,
    Settings,
    load_settings,
    require_serve,
    require_slack_http,
    require_slack_socket,
)
from bot.store.urls import MASK, mask_url
from providers.settings import TykSettings, UnleashSettings

EXAMPLE = Path(__file__).resolve().parent.parent / "resetbot.example.toml"

GOOD = """
database_url = "sqlite:///x.db"
admins = ["U0123ADMIN"]

[providers.flags]
kind = "unleash"
base_url = "https://unleash.example.com"
token = "flags-token"
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Each test runs in an empty directory with no resetbot or Slack variables set."""
    import os

    for name in list(os.environ):
        if name.upper().startswith(("RESETBOT_", "SLACK_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def problems(text: str, tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path / "resetbot.toml", text))
    return info.value.problems


class TestSources:
    def test_example_file_loads(self) -> None:
        """The shipped example is a valid config with the four provider kinds."""
        s = load_settings(EXAMPLE)
        assert {name: p.kind for name, p in s.providers.items()} == {
            "community": "mighty_networks",
            "flags": "unleash",
            "edge": "f5xc",
            "gateway": "tyk",
        }
        assert s.admins == ["U0123ADMIN"]
        assert str(s.slack.api_url) == "https://slack.com/api/"

    def test_defaults_without_any_file(self) -> None:
        """No ./resetbot.toml is fine: the defaults apply."""
        s = load_settings()
        assert s.database_url == "sqlite:///resetbot.db"
        assert s.admins == []
        assert s.request_ttl_minutes == 60
        assert (s.max_pending_per_requester, s.max_pending_per_target) == (5, 1)
        assert s.log_level == "INFO"
        assert s.providers == {}
        assert s.slack.bot_token is None
        assert str(s.slack.api_url) == "https://slack.com/api/"

    def test_default_file_is_read(self, tmp_path: Path) -> None:
        """./resetbot.toml is read when no path is given."""
        write(tmp_path / "resetbot.toml", GOOD)
        assert load_settings().database_url == "sqlite:///x.db"

    def test_resetbot_config_names_the_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """RESETBOT_CONFIG points at another file."""
        monkeypatch.setenv("RESETBOT_CONFIG", str(write(tmp_path / "other.toml", GOOD)))
        assert "flags" in load_settings().providers

    def test_missing_named_file_is_an_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A file that was asked for by name must exist."""
        with pytest.raises(ConfigError) as info:
            load_settings("nope.toml")
        assert info.value.problems == ["nope.toml: config file not found"]
        monkeypatch.setenv("RESETBOT_CONFIG", "gone.toml")
        with pytest.raises(ConfigError, match=r"gone\.toml: config file not found"):
            load_settings()

    def test_env_overrides_toml_with_nesting(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """RESETBOT_* variables override the file, nested keys with '__'."""
        monkeypatch.setenv("RESETBOT_REQUEST_TTL_MINUTES", "15")
        monkeypatch.setenv("RESETBOT_PROVIDERS__FLAGS__TOKEN", "from-env")
        monkeypatch.setenv("RESETBOT_PROVIDERS__FLAGS__APPROVALS_REQUIRED", "2")
        monkeypatch.setenv("RESETBOT_ADMINS", "U0AAA, W0BBB")
        s = load_settings(write(tmp_path / "c.toml", GOOD))
        flags = s.providers["flags"]
        assert isinstance(flags, UnleashSettings)
        assert flags.token.get_secret_value() == "from-env"
        assert flags.approvals_required == 2
        assert str(flags.base_url) == "https://unleash.example.com/"
        assert s.request_ttl_minutes == 15
        assert s.admins == ["U0AAA", "W0BBB"]

    def test_env_alone_can_define_an_instance(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A whole provider instance may come from the environment (no file at all)."""
        monkeypatch.setenv("RESETBOT_PROVIDERS__GATEWAY__KIND", "tyk")
        monkeypatch.setenv("RESETBOT_PROVIDERS__GATEWAY__BASE_URL", "https://tyk.example.com")
        monkeypatch.setenv("RESETBOT_PROVIDERS__GATEWAY__ADMIN_SECRET", "s3")
        monkeypatch.setenv("RESETBOT_ADMINS", '["U0AAA"]')
        s = load_settings()
        assert isinstance(s.providers["gateway"], TykSettings)
        assert s.admins == ["U0AAA"]

    def test_precedence_init_env_dotenv_toml(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Overrides beat the environment, which beats .env, which beats the file."""
        write(tmp_path / "resetbot.toml", 'log_level = "ERROR"\nrequest_ttl_minutes = 5\n' + GOOD)
        write(tmp_path / ".env", "RESETBOT_LOG_LEVEL=warning\nRESETBOT_REQUEST_TTL_MINUTES=6\n")
        s = load_settings()
        assert (s.log_level, s.request_ttl_minutes) == ("WARNING", 6)
        monkeypatch.setenv("RESETBOT_REQUEST_TTL_MINUTES", "7")
        s = load_settings()
        assert (s.log_level, s.request_ttl_minutes) == ("WARNING", 7)
        assert load_settings(request_ttl_minutes=8).request_ttl_minutes == 8

    def test_dotenv_may_hold_other_tools_variables(self, tmp_path: Path) -> None:
        """A shared .env (PORT=…) is fine; only unknown RESETBOT_* names are reported."""
        write(tmp_path / ".env", "PORT=3000\nDATABASE_URL=postgres://elsewhere\n")
        assert load_settings().database_url == "sqlite:///resetbot.db"
        write(tmp_path / ".env", "RESETBOT_TTL=5\n")
        with pytest.raises(ConfigError) as info:
            load_settings()
        assert info.value.problems == ["ttl: unknown key"]


class TestSlack:
    def test_standard_slack_variables(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and SLACK_APP_TOKEN fill [slack]."""
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "sign-1")
        monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
        slack = load_settings().slack
        assert slack.bot_token is not None and slack.bot_token.get_secret_value() == "xoxb-1"
        assert slack.signing_secret is not None
        assert slack.signing_secret.get_secret_value() == "sign-1"
        assert slack.app_token is not None and slack.app_token.get_secret_value() == "xapp-1"

    def test_slack_variables_from_dotenv_and_file(self, tmp_path: Path) -> None:
        """.env may carry the SLACK_* variables; [slack] keeps its api_url from the file."""
        write(tmp_path / ".env", "SLACK_BOT_TOKEN=xoxb-dotenv\n")
        write(tmp_path / "resetbot.toml", '[slack]\napi_url = "https://slack.example.gov/api/"\n')
        slack = load_settings().slack
        assert slack.bot_token is not None
        assert slack.bot_token.get_secret_value() == "xoxb-dotenv"
        assert str(slack.api_url) == "https://slack.example.gov/api/"

    def test_environment_beats_dotenv_and_prefixed_beats_standard(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """SLACK_* in the environment beats .env; RESETBOT_SLACK__* beats SLACK_*."""
        write(tmp_path / ".env", "SLACK_BOT_TOKEN=xoxb-dotenv\n")
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-env")
        token = load_settings().slack.bot_token
        assert token is not None and token.get_secret_value() == "xoxb-env"
        monkeypatch.setenv("RESETBOT_SLACK__BOT_TOKEN", "xoxb-prefixed")
        token = load_settings().slack.bot_token
        assert token is not None and token.get_secret_value() == "xoxb-prefixed"

    def test_serve_requirements(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """HTTP mode needs a bot token and signing secret; Socket Mode a bot and app token."""
        with pytest.raises(ConfigError) as info:
            require_serve(load_settings())
        assert info.value.problems == [
            "slack.bot_token: required to serve (set SLACK_BOT_TOKEN)",
            "slack.signing_secret: required to serve over HTTP (set SLACK_SIGNING_SECRET)",
        ]
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "sign-1")
        require_slack_http(load_settings())
        with pytest.raises(ConfigError, match=r"slack\.app_token: required for Socket Mode"):
            require_slack_socket(load_settings())
        monkeypatch.delenv("SLACK_SIGNING_SECRET")
        monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
        require_serve(load_settings())  # Socket Mode: no signing secret needed


class TestProblems:
    def test_unknown_kind(self, tmp_path: Path) -> None:
        """An unknown kind names the key and the kinds that exist."""
        text = '[providers.edge]\nkind = "f5"\nbase_url = "https://x.example"\ntoken = "t"\n'
        assert problems(text, tmp_path) == [
            "providers.edge.kind: unknown kind 'f5'; expected one of "
            "mighty_networks, unleash, f5xc, tyk"
        ]

    def test_missing_kind(self, tmp_path: Path) -> None:
        assert problems('[providers.edge]\ntoken = "t"\n', tmp_path) == [
            "providers.edge.kind: field required; expected one of "
            "mighty_networks, unleash, f5xc, tyk"
        ]

    def test_missing_token(self, tmp_path: Path) -> None:
        text = '[providers.flags]\nkind = "unleash"\nbase_url = "https://u.example"\n'
        assert problems(text, tmp_path) == ["providers.flags.token: field required"]

    def test_blank_secret(self, tmp_path: Path) -> None:
        text = '[providers.flags]\nkind = "unleash"\nbase_url = "https://u.example"\ntoken = " "\n'
        assert problems(text, tmp_path) == ["providers.flags: token must not be empty"]

    def test_bad_url(self, tmp_path: Path) -> None:
        text = (
            '[providers.community]\nkind = "mighty_networks"\nnetwork_id = "acme"\n'
            'token = "t"\nbase_url = "not a url"\n'
            '[providers.flags]\nkind = "unleash"\nbase_url = "ftp://u.example"\ntoken = "t"\n'
        )
        assert problems(text, tmp_path) == [
            "providers.community.base_url: not a valid URL",
            "providers.flags.base_url: not a valid URL: the scheme must be http or https",
        ]

    def test_instance_name_not_a_slug(self, tmp_path: Path) -> None:
        text = '[providers.Bad_Name]\nkind = "tyk"\nbase_url = "https://t.example"\n'
        text += 'admin_secret = "s"\n'
        assert problems(text, tmp_path) == [
            "providers.Bad_Name: instance name must be a slug: a lowercase letter, then "
            "lowercase letters, digits or '-', at most 32 characters"
        ]

    def test_duplicate_names_differing_in_case(self, tmp_path: Path) -> None:
        text = GOOD + '[providers.Flags]\nkind = "unleash"\nbase_url = "https://u"\ntoken = "t"\n'
        assert problems(text, tmp_path) == [
            "providers: duplicate instance names 'flags' and 'Flags' (names are case-insensitive)"
        ]

    def test_duplicate_across_file_and_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An instance in the file and one in the environment that differ only in case clash."""
        text = '[providers.Flags]\nkind = "unleash"\nbase_url = "https://u"\ntoken = "t"\n'
        monkeypatch.setenv("RESETBOT_PROVIDERS__FLAGS__KIND", "unleash")
        assert problems(text, tmp_path) == [
            "providers: duplicate instance names 'Flags' and 'flags' (names are case-insensitive)"
        ]

    def test_table_declared_twice(self, tmp_path: Path) -> None:
        """TOML itself forbids a table twice; the problem still names the key and the line."""
        assert problems(GOOD + '\n[providers.flags]\nkind = "unleash"\n', tmp_path) == [
            f"providers.flags: declared twice in {tmp_path / 'resetbot.toml'} (line 10)"
        ]

    def test_not_toml(self, tmp_path: Path) -> None:
        assert problems("admins = [\n", tmp_path)[0].startswith(
            f"{tmp_path / 'resetbot.toml'}: not valid TOML"
        )

    def test_every_problem_on_its_own_line(self, tmp_path: Path) -> None:
        """Several problems are all reported at once, one line each."""
        text = (
            'admins = ["bob"]\nrequest_ttl_minutes = 0\nlog_level = "loud"\nfoo = 1\n'
            "max_pending_per_target = 0\n"
            '[slack]\napi_url = "slack"\n'
            '[providers.flags]\nkind = "unleash"\nbase_url = "https://u"\ntoken = "t"\n'
            'approvals_channel = "#general"\nfrobnicate = true\n'
        )
        assert problems(text, tmp_path) == [
            "admins.0: not a Slack user id (U… or W…, as in the member's profile)",
            "request_ttl_minutes: must be greater than or equal to 1",
            "max_pending_per_target: must be greater than or equal to 1",
            "log_level: must be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'",
            "slack.api_url: not a valid URL",
            "providers.flags.approvals_channel: not a Slack channel id (C… or G…)",
            "providers.flags.frobnicate: unknown key",
            "foo: unknown key",
        ]

    def test_bad_json_in_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("RESETBOT_PROVIDERS", "{not json")
        with pytest.raises(ConfigError) as info:
            load_settings()
        assert info.value.problems == [
            "providers: cannot parse the value from the environment (expected JSON)"
        ]

    def test_problems_never_show_the_input(self, tmp_path: Path) -> None:
        """A secret in the wrong place or of the wrong type is named, never printed."""
        sentinel = "SENTINEL-d41d8cd9"
        text = (
            f'database_url = "{sentinel}"\n'
            f'[providers.flags]\nkind = "unleash"\nbase_url = "https://{sentinel}:x"\n'
            f'token = ["{sentinel}"]\n'
            f'[providers.gateway]\nkind = "tyk"\nbase_url = "https://t"\n'
            f'admin_secret = "s"\ndashboard_key = {{ k = "{sentinel}" }}\n'
        )
        found = problems(text, tmp_path)
        assert len(found) == 4
        assert found[0] == "database_url: not a valid SQLAlchemy database URL"
        assert not any(sentinel in line for line in found)


class TestMasked:
    def test_every_secret_is_masked(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """masked() replaces every secret, including a database password, with ********."""
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-SECRET1")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "SECRET2")
        monkeypatch.setenv("RESETBOT_DATABASE_URL", "postgresql+psycopg://bot:SECRET3@db/rb")
        s = load_settings(EXAMPLE)
        data = s.masked()
        text = json.dumps(data)
        assert "SECRET" not in text and "replace-me" not in text
        assert data["database_url"] == f"postgresql+psycopg://bot:{MASK}@db/rb"
        assert data["slack"]["bot_token"] == MASK
        assert data["slack"]["app_token"] is None
        assert data["providers"]["gateway"]["admin_secret"] == MASK
        assert data["providers"]["gateway"]["dashboard_key"] == MASK
        assert next(iter(data["providers"]["flags"])) == "kind"

    def test_mask_url_leaves_passwordless_urls_alone(self) -> None:
        assert mask_url("sqlite:///resetbot.db") == "sqlite:///resetbot.db"
        assert mask_url("postgresql+psycopg://u:p%40ss@h:5432/d") == (
            f"postgresql+psycopg://u:{MASK}@h:5432/d"
        )

    def test_settings_can_be_built_directly(self) -> None:
        """Other code and tests may build Settings in code, without a file."""
        s = Settings(admins=["U0AAA"], providers={})
        assert s.admins == ["U0AAA"]
