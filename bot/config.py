"""Settings: a TOML file, ``RESETBOT_*`` variables, ``.env`` and the standard ``SLACK_*`` ones."""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources import DotEnvSettingsSource

from bot.store.urls import MASK, is_database_url, mask_url
from providers.settings import (
    KINDS,
    F5XCSettings,
    MightyNetworksSettings,
    TykSettings,
    UnleashSettings,
)

CONFIG_ENV = "RESETBOT_CONFIG"
DEFAULT_CONFIG = Path("resetbot.toml")
SLACK_USER_ID_PATTERN = r"^[UW][A-Z0-9]{2,}$"
CHANNEL_ID_PATTERN = r"^[CG][A-Z0-9]{2,}$"
INSTANCE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
# The standard Slack variables, under their usual names, and where they land.
SLACK_ENV = {
    "SLACK_BOT_TOKEN": "bot_token",
    "SLACK_SIGNING_SECRET": "signing_secret",
    "SLACK_APP_TOKEN": "app_token",
}
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
# The example file's stand-in for every credential: never a real one.
PLACEHOLDER = "replace-me"
# RESETBOT_ variables that are not settings but are read elsewhere (the test suite's own too).
OTHER_ENV = {"RESETBOT_CONFIG", "RESETBOT_THREADS", "RESETBOT_READ_DEADLINE"}
OTHER_ENV_PREFIXES = ("RESETBOT_TEST_",)
# Database URL schemes and what they mean; postgres:// is what Heroku puts in DATABASE_URL.
DATABASE_SCHEMES = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite+pysqlite",
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}

InstanceName = Annotated[str, StringConstraints(pattern=INSTANCE_NAME_PATTERN)]
SlackUserId = Annotated[str, StringConstraints(pattern=SLACK_USER_ID_PATTERN)]

# Which TOML file the next Settings() reads; load_settings sets it for the duration of one call.
_toml_path: ContextVar[Path | None] = ContextVar("resetbot_toml_path", default=None)


class ConfigError(Exception):
    """A configuration that cannot run: one line per problem, each naming its dotted key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class SlackSettings(BaseModel):
    """The Slack app's credentials; normally from ``SLACK_BOT_TOKEN`` and friends."""

    model_config = ConfigDict(extra="forbid")

    api_url: HttpUrl = HttpUrl("https://slack.com/api/")
    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None  # set = Socket Mode

    @field_validator("bot_token", "signing_secret", "app_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value


class AuditWebhook(BaseModel):
    """``[audit.webhook]``: where every audit event is POSTed, signed with ``secret``."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    secret: SecretStr = Field(min_length=16)


class AuditSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook: AuditWebhook | None = None


class ApprovalPolicy(BaseModel):
    """The bot's policy for one provider instance, written beside its vendor settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approvals_channel: str | None = Field(default=None, pattern=CHANNEL_ID_PATTERN)
    approvals_required: int = Field(default=1, ge=1, le=10)
    allow_self_approval: bool = False
    # The person whose password is reset: asked to confirm before anything is done (when found
    # in Slack, or always), and where a secret goes.
    verify_target: Literal["if_in_slack", "required", "off"] = "if_in_slack"
    deliver_secret_to: Literal["target", "requester"] = "target"  # noqa: S105 - a recipient
    # An account the provider reports as an administrator.
    approvals_required_privileged: int = Field(default=2, ge=1, le=10)
    refuse_privileged: bool = False
    # Where approvers hear of a request: its channel message, a DM each (a copy with working
    # buttons), or both; every copy is updated in place after each decision.
    notify_approvers: Literal["channel", "dm", "both"] = "channel"
    # A pending request nobody decided: a reminder in its thread, then a copy with working
    # buttons in escalation_channel (0 = never).
    remind_after_minutes: float = Field(default=15, ge=0, le=10080)
    escalate_after_minutes: float = Field(default=0, ge=0, le=10080)
    escalation_channel: str | None = Field(default=None, pattern=CHANNEL_ID_PATTERN)

    @model_validator(mode="after")
    def _escalation_has_a_channel(self) -> ApprovalPolicy:
        if self.escalate_after_minutes and not self.escalation_channel:
            raise ValueError("escalate_after_minutes needs an escalation_channel")
        return self


# One ``[providers.<name>]`` table: the vendor's settings and the bot's policy for it.
class MightyNetworksInstance(MightyNetworksSettings, ApprovalPolicy):
    pass


class UnleashInstance(UnleashSettings, ApprovalPolicy):
    pass


class F5XCInstance(F5XCSettings, ApprovalPolicy):
    pass


class TykInstance(TykSettings, ApprovalPolicy):
    pass


ProviderInstance = Annotated[
    MightyNetworksInstance | UnleashInstance | F5XCInstance | TykInstance,
    Field(discriminator="kind"),
]


class Settings(BaseSettings):
    """Everything resetbot reads at start-up (see ``resetbot.example.toml``)."""

    model_config = SettingsConfigDict(
        env_prefix="RESETBOT_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="forbid",
        validate_default=True,
    )

    database_url: str = "sqlite:///resetbot.db"
    admins: Annotated[list[SlackUserId], NoDecode] = Field(default_factory=list)
    request_ttl_minutes: int = Field(default=60, ge=1, le=10080)
    max_pending_per_requester: int = Field(default=5, ge=1, le=1000)
    max_pending_per_target: int = Field(default=1, ge=1, le=100)
    # How often each process expires requests, recovers interrupted calls and resyncs messages.
    sweep_interval_seconds: float = Field(default=15.0, ge=0.1, le=3600)
    # A provider call whose process has not renewed it for this long is reported as unknown.
    dispatch_lease_seconds: float = Field(default=30.0, ge=1, le=3600)
    log_level: LogLevel = "INFO"
    # Where alerts go when a target says a request was not theirs (else the approvals channel).
    security_channel: str | None = Field(default=None, pattern=CHANNEL_ID_PATTERN)
    # Where `resetbot serve` runs provider calls, writes and Slack follow-ups: a worker process
    # of its own ("process": acks never share an interpreter lock with that work) or threads of
    # the web process ("thread": one process less and less memory, slower acks under load).
    background: Literal["process", "thread"] = "process"
    slack: SlackSettings = Field(default_factory=SlackSettings)
    providers: dict[InstanceName, ProviderInstance] = Field(default_factory=dict)
    # Operations: log lines as text or one JSON object each; a bearer token for GET /metrics;
    # the audit webhook (audit events streamed to a SIEM).
    log_format: Literal["text", "json"] = "text"
    metrics_token: SecretStr | None = None
    audit: AuditSettings = Field(default_factory=AuditSettings)
    # One provider call, its retries and their waits included, ends by this many seconds.
    provider_call_deadline_seconds: float = Field(default=30.0, gt=0, le=600)

    @model_validator(mode="before")
    @classmethod
    def _database_url_from_env(cls, data: Any) -> Any:
        # The platform's DATABASE_URL (Heroku, Render...) unless database_url is set our way.
        if isinstance(data, dict) and not data.get("database_url"):
            found = os.environ.get("DATABASE_URL", "").strip()
            if found:
                return {**data, "database_url": found}
        return data

    @field_validator("database_url")
    @classmethod
    def _parseable_url(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if not sep or not is_database_url(value):
            # Never echo the value: a database URL may carry a password.
            raise PydanticCustomError("database_url", "not a valid SQLAlchemy database URL")
        driver = DATABASE_SCHEMES.get(scheme.lower())
        if driver is None:
            raise PydanticCustomError(
                "database_url",
                "unsupported database '{scheme}'; supported: sqlite:///path, "
                "postgresql+psycopg://… (postgres:// and postgresql:// mean the same)",
                {"scheme": scheme[:20]},
            )
        return f"{driver}://{rest}"

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: Any) -> Any:
        # RESETBOT_ADMINS may be a JSON list or plain "U1,U2".
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except ValueError:
                    raise PydanticCustomError("admins", "not a valid JSON list") from None
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("providers", mode="before")
    @classmethod
    def _unique_names(cls, value: Any) -> Any:
        # TOML itself refuses a table declared twice; what remains is names that differ only in
        # case ("Flags" and "flags", possibly one from the file and one from the environment).
        if isinstance(value, Mapping):
            seen: dict[str, str] = {}
            for name in value:
                if not isinstance(name, str):
                    continue
                first = seen.setdefault(name.casefold(), name)
                if first != name:
                    raise PydanticCustomError(
                        "duplicate_instance",
                        "duplicate instance names '{first}' and '{name}' "
                        "(names are case-insensitive)",
                        {"first": first, "name": name},
                    )
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        dotenv_vars: Mapping[str, str | None] = (
            dotenv_settings.env_vars if isinstance(dotenv_settings, DotEnvSettingsSource) else {}
        )
        toml_path = _toml_path.get()
        if toml_path is None:
            toml_path = config_path_from_env()
        return (
            init_settings,
            env_settings,
            SlackEnvSource(settings_cls, os.environ),
            DotEnvSource(settings_cls, dotenv_settings),
            SlackEnvSource(settings_cls, dotenv_vars),
            TomlConfigSettingsSource(settings_cls, toml_file=toml_path),
        )

    def masked(self) -> dict[str, Any]:
        """The settings as plain data with every secret replaced by ``********``."""
        data = _mask(self)
        assert isinstance(data, dict)
        data["database_url"] = mask_url(self.database_url)
        return data

    def serve_problems(self) -> list[str]:
        """What ``resetbot serve`` still needs: Socket Mode if ``SLACK_APP_TOKEN`` is set."""
        return socket_problems(self) if self.slack.app_token else http_problems(self)


class SlackEnvSource(PydanticBaseSettingsSource):
    """``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET`` and ``SLACK_APP_TOKEN`` → ``[slack]``."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str | None]) -> None:
        super().__init__(settings_cls)
        folded = {key.upper(): value for key, value in env.items()}
        self._values = {
            field: value
            for var, field in SLACK_ENV.items()
            if (value := folded.get(var)) is not None and value.strip()
        }

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return (self._values or None) if field_name == "slack" else None, field_name, True

    def __call__(self) -> dict[str, Any]:
        return {"slack": dict(self._values)} if self._values else {}


class DotEnvSource(PydanticBaseSettingsSource):
    """``.env`` as pydantic-settings reads it, minus its habit of rejecting foreign variables.

    A ``.env`` file is shared with other tools (``PORT``, ``SLACK_*``): only ``RESETBOT_*``
    names that match no setting are reported, as unknown keys.
    """

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self._inner = inner

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        inner = self._inner
        if not isinstance(inner, DotEnvSettingsSource):
            return inner()
        # The plain environment-variable behaviour, applied to the file's variables.
        data: dict[str, Any] = super(DotEnvSettingsSource, inner).__call__()
        prefix = "resetbot_"
        for name, value in inner.env_vars.items():
            key = name.lower()
            if not value or not key.startswith(prefix):
                continue
            top = key.removeprefix(prefix).partition("__")[0]
            if top not in self.settings_cls.model_fields:
                data[key.removeprefix(prefix)] = value
        return data


def config_path_from_env() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    token = _toml_path.set(path)
    try:
        yield
    finally:
        _toml_path.reset(token)


def load_settings(config_path: str | Path | None = None, **overrides: Any) -> Settings:
    """Read and validate the settings, or raise ConfigError with one line per problem.

    The file is ``config_path``, else ``$RESETBOT_CONFIG``, else ``./resetbot.toml``; only the
    default may be absent. Precedence: ``overrides`` > environment > ``.env`` > TOML.
    """
    explicit = config_path is not None or bool(os.environ.get(CONFIG_ENV))
    path = Path(config_path) if config_path is not None else config_path_from_env()
    if path.is_dir():
        raise ConfigError([f"{path}: is a directory, not a config file"])
    if path.exists():
        _check_toml(path)
    elif explicit:
        raise ConfigError([f"{path}: config file not found"])
    try:
        with _reading(path):
            return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(problems_from(exc)) from None
    except SettingsError as exc:
        raise ConfigError([_settings_error_line(exc)]) from None


_TOML_TWICE = re.compile(r"Cannot (?:declare|overwrite a value) (?:\((?P<key>[^)]*)\) )?twice")
_TOML_WHERE = re.compile(r"\(at line (?P<line>\d+), column \d+\)")


def _check_toml(path: Path) -> None:
    try:
        with path.open("rb") as fh:
            tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = _TOML_WHERE.search(message)
        line = f" (line {where['line']})" if where else ""
        twice = _TOML_TWICE.search(message)
        if twice and twice["key"]:
            key = ".".join(part.strip(" '\"") for part in twice["key"].split(",") if part.strip())
            raise ConfigError([f"{key}: declared twice in {path}{line}"]) from None
        reason = _TOML_WHERE.sub("", message).strip()
        raise ConfigError([f"{path}: not valid TOML{line}: {reason}"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None


def _settings_error_line(exc: SettingsError) -> str:
    # e.g. 'error parsing value for field "providers" from source "EnvSettingsSource"'
    match = re.search(r'field "([^"]+)" from source "([^"]+)"', str(exc))
    if match:
        origin = {"EnvSettingsSource": "the environment", "DotEnvSettingsSource": ".env"}.get(
            match[2], match[2]
        )
        return f"{match[1]}: cannot parse the value from {origin} (expected JSON)"
    return f"configuration: {exc}"


def problems_from(exc: ValidationError) -> list[str]:
    """One line per error: the dotted key and the complaint, never the offending input."""
    lines: list[str] = []
    for error in exc.errors(include_input=False, include_url=False):
        line = f"{_key(error)}: {_message(error)}"
        if line not in lines:
            lines.append(line)
    return lines


def _key(error: ErrorDetails) -> str:
    loc = list(error["loc"])
    # A discriminated union reports the chosen member as a location step; readers never wrote it.
    if len(loc) >= 3 and loc[0] == "providers" and loc[2] in KINDS:
        del loc[2]
    if loc and loc[-1] == "[key]":
        loc.pop()
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        loc.append("kind")
    return ".".join(str(part) for part in loc) or "configuration"


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    loc = error["loc"]
    expected = ", ".join(KINDS)
    if kind == "union_tag_invalid":
        return f"unknown kind {ctx.get('tag')!r}; expected one of {expected}"
    if kind == "union_tag_not_found":
        return f"field required; expected one of {expected}"
    if kind == "missing":
        return "field required"
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "url_scheme":
        return "not a valid URL: the scheme must be http or https"
    if kind.startswith("url_"):
        return "not a valid URL"
    if kind == "string_pattern_mismatch":
        if loc and loc[0] == "admins":
            return "not a Slack user id (U… or W…, as in the member's profile)"
        if loc and loc[0] == "providers" and loc[-1] == "[key]":
            return (
                "instance name must be a slug: a lowercase letter, then lowercase letters, "
                "digits or '-', at most 32 characters"
            )
        if loc and loc[-1] in ("approvals_channel", "security_channel", "escalation_channel"):
            return "not a Slack channel id (C… or G…)"
        return f"does not match the pattern {ctx.get('pattern')}"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    message = message.replace("Input should be", "must be")
    return message[:1].lower() + message[1:]


def _mask(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK
    if isinstance(value, BaseModel):
        names = sorted(type(value).model_fields, key=lambda name: name != "kind")
        return {name: _mask(getattr(value, name)) for name in names}
    if isinstance(value, Mapping):
        return {str(key): _mask(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(item) for item in value]
    if isinstance(value, HttpUrl):
        return str(value)
    return value


def placeholder_problems(settings: Settings) -> list[str]:
    """Every setting still holding the example file's ``replace-me``."""
    found: list[str] = []

    def walk(value: Any, key: str) -> None:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, str):
            if PLACEHOLDER in value:
                found.append(f"{key}: still the example's placeholder {PLACEHOLDER!r}")
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), f"{key}.{name}" if key else name)
        elif isinstance(value, Mapping):
            for name, item in value.items():
                walk(item, f"{key}.{name}" if key else str(name))

    walk(settings, "")
    return found


def unknown_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """``RESETBOT_…`` variables that name no setting (misspelt?): resetbot ignores them."""
    names = set(Settings.model_fields)
    nested = {
        "slack": set(SlackSettings.model_fields),
        "audit": set(AuditSettings.model_fields),
    }
    out = []
    for var in sorted(os.environ if environ is None else environ):
        upper = var.upper()
        if not upper.startswith("RESETBOT_") or upper in OTHER_ENV:
            continue
        if upper.startswith(OTHER_ENV_PREFIXES):
            continue
        top, _, sub = upper.removeprefix("RESETBOT_").lower().partition("__")
        known = top in names and (
            not sub or top not in nested or sub.partition("__")[0] in nested[top]
        )
        if not known:
            out.append(f"warning: {var} is not a resetbot setting (misspelt?); it is ignored")
    return out


def http_problems(settings: Settings) -> list[str]:
    """What HTTP mode (``POST /slack/events``) cannot run without."""
    problems = []
    if settings.slack.bot_token is None:
        problems.append("slack.bot_token: required to serve (set SLACK_BOT_TOKEN)")
    if settings.slack.signing_secret is None:
        problems.append(
            "slack.signing_secret: required to serve over HTTP (set SLACK_SIGNING_SECRET)"
        )
    return problems


def socket_problems(settings: Settings) -> list[str]:
    """What Socket Mode cannot run without (no signing secret: Slack does not sign it)."""
    problems = []
    if settings.slack.bot_token is None:
        problems.append("slack.bot_token: required to serve (set SLACK_BOT_TOKEN)")
    if settings.slack.app_token is None:
        problems.append("slack.app_token: required for Socket Mode (set SLACK_APP_TOKEN)")
    return problems


def require_slack_http(settings: Settings) -> None:
    if problems := http_problems(settings):
        raise ConfigError(problems)


def require_slack_socket(settings: Settings) -> None:
    if problems := socket_problems(settings):
        raise ConfigError(problems)


def require_serve(settings: Settings) -> None:
    """Raise ConfigError unless ``serve`` has what its mode (HTTP or Socket Mode) needs."""
    if problems := settings.serve_problems():
        raise ConfigError(problems)
