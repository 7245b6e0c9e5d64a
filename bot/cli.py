"""The ``resetbot`` command: serve, db, roles, audit, config and demo."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.config import (
    SLACK_USER_ID_PATTERN,
    ConfigError,
    Settings,
    config_path_from_env,
    load_settings,
    unknown_env,
)
from bot.metrics import version
from bot.store.urls import mask_url

if TYPE_CHECKING:
    from bot.store.db import Store

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CONFIG = 2

Handler = Callable[[argparse.Namespace, "Context"], int]


class CliError(Exception):
    """An expected failure: printed as one line, exit status 1."""


class Context:
    """What every command may need, loaded only when it asks (``--help`` reads no config)."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path

    @cached_property
    def settings(self) -> Settings:
        settings = load_settings(self.config_path)
        for line in unknown_env():
            _say(line)
        return settings

    @cached_property
    def config_file(self) -> Path:
        return Path(self.config_path) if self.config_path else config_path_from_env()

    @contextmanager
    def store(self) -> Iterator[Store]:
        from bot.store.db import Store
        from bot.store.migrate import ensure_schema

        # The same rule as `serve`: SQLite is brought up to date, PostgreSQL must be upgraded.
        url = self.settings.database_url
        if migrated := ensure_schema(url):
            _say(migrated)
        # Audit events recorded here (role grants) reach the webhook like any other.
        store = Store(url, outbox=self.settings.audit.webhook is not None)
        try:
            yield store
        finally:
            store.dispose()


def _command_actor() -> str:
    """Who a CLI change is recorded as in the audit log (the OS user; Slack ids look different)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"[:32]


def _slack_user_id(text: str) -> str:
    if not re.match(SLACK_USER_ID_PATTERN, text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Slack user id (U… or W…, from the member's profile)"
        )
    return text


def _grant_subject(text: str) -> str:
    """A person (``U…``/``W…``) or a user group (``S…``, approver only)."""
    if re.match(r"^S[A-Z0-9]{2,}$", text):
        return text
    return _slack_user_id(text)


def _iso_datetime(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date or date-time (e.g. 2025-01-31 or 2025-01-31T09:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def register_serve(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        parents=[_common()],
        help="run the bot (HTTP on $PORT, or Socket Mode when SLACK_APP_TOKEN is set)",
        description="Validate the config, check the schema (migrating SQLite, never PostgreSQL),"
        " then serve Slack.",
    )
    p.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace, ctx: Context) -> int:
    from bot.config import placeholder_problems, require_serve
    from bot.store.migrate import ensure_schema

    settings = ctx.settings
    require_serve(settings)
    if problems := placeholder_problems(settings):
        raise ConfigError(problems)
    port = _env_port()
    host = os.environ.get("HOST", "").strip() or "0.0.0.0"  # noqa: S104
    migrated = ensure_schema(settings.database_url, create=False)
    # Imported here: the server pulls in Bolt and the providers, which other commands never need.
    try:
        from bot.bootstrap import serve
        from bot.server import ServerError, configure_logging
    except ImportError as exc:
        raise CliError(f"the Slack server cannot be loaded: {exc}") from exc
    configure_logging(settings.log_level)
    if migrated:
        logging.getLogger("bot.cli").info("%s", migrated)
    try:
        serve(settings, port=port, host=host)
    except ServerError as exc:
        _say(str(exc))
        return exc.status
    return EXIT_OK


def _env_port() -> int:
    text = os.environ.get("PORT", "").strip() or "3000"
    try:
        return _port(text)
    except argparse.ArgumentTypeError as exc:
        raise ConfigError([f"PORT: {exc}"]) from None


def register_db(sub: Any) -> None:
    p = sub.add_parser("db", parents=[_common()], help="database schema migrations")
    db = p.add_subparsers(dest="db_command", required=True, metavar="{upgrade,current}")
    up = db.add_parser(
        "upgrade", parents=[_common()], help="migrate the database to the newest schema"
    )
    up.set_defaults(handler=cmd_db_upgrade)
    cur = db.add_parser("current", parents=[_common()], help="show the database's schema revision")
    cur.set_defaults(handler=cmd_db_current)


def cmd_db_upgrade(args: argparse.Namespace, ctx: Context) -> int:
    from bot.store import migrate

    url = ctx.settings.database_url
    before = migrate.current(url)
    target = migrate.head()
    if before == target:
        print(f"{mask_url(url)}: already at the newest revision {target}")
        return EXIT_OK
    migrate.upgrade(url)
    print(f"{mask_url(url)}: upgraded from {before or 'an empty database'} to {target}")
    return EXIT_OK


def cmd_db_current(args: argparse.Namespace, ctx: Context) -> int:
    from bot.store import migrate

    url = ctx.settings.database_url
    found = migrate.current(url)
    target = migrate.head()
    if found is None:
        print(f"none (empty database; the newest revision is {target}: run `resetbot db upgrade`)")
        return EXIT_OK
    print(f"{found} (newest)" if found == target else f"{found} (behind the newest, {target})")
    return EXIT_OK


def register_roles(sub: Any) -> None:
    from bot.store.models import Role

    p = sub.add_parser("roles", parents=[_common()], help="grant, revoke and list roles")
    roles = p.add_subparsers(dest="roles_command", required=True, metavar="{grant,revoke,list}")
    for name, handler, verb in (
        ("grant", cmd_roles_grant, "grant"),
        ("revoke", cmd_roles_revoke, "revoke"),
    ):
        q = roles.add_parser(name, parents=[_common()], help=f"{verb} a role to a Slack user")
        q.add_argument(
            "user",
            type=_grant_subject,
            help="Slack user id (U0123ABCD), or a user group's id (S0123ABCD: approver only)",
        )
        q.add_argument("role", choices=[r.value for r in Role])
        q.add_argument(
            "--provider",
            metavar="NAME",
            help="only for this provider instance (default: every provider)",
        )
        q.set_defaults(handler=handler)
    ls = roles.add_parser("list", parents=[_common()], help="list role grants")
    ls.add_argument("user", nargs="?", type=_slack_user_id, help="only this Slack user")
    ls.set_defaults(handler=cmd_roles_list)


def _check_provider(settings: Settings, provider: str | None) -> None:
    if provider is not None and provider not in settings.providers:
        known = ", ".join(sorted(settings.providers)) or "none configured"
        raise CliError(f"unknown provider {provider!r}; configured: {known}")


def _scope_text(provider: str | None) -> str:
    return "all providers" if provider is None else f"provider {provider}"


def cmd_roles_grant(args: argparse.Namespace, ctx: Context) -> int:
    from bot.domain import roles
    from bot.store.models import Role

    _check_provider(ctx.settings, args.provider)
    if args.user.startswith("S") and args.role != Role.APPROVER.value:
        raise CliError("a user group can only be granted the approver role")
    with ctx.store() as store, store.session() as tx:
        created = roles.grant(tx, _command_actor(), args.user, Role(args.role), args.provider)
    scope = _scope_text(args.provider)
    if created:
        print(f"granted {args.role} to {args.user} for {scope}")
    else:
        print(f"{args.user} already holds {args.role} for {scope}")
    return EXIT_OK


def cmd_roles_revoke(args: argparse.Namespace, ctx: Context) -> int:
    from bot.domain import roles
    from bot.store.models import Role

    with ctx.store() as store, store.session() as tx:
        removed = roles.revoke(tx, _command_actor(), args.user, Role(args.role), args.provider)
    scope = _scope_text(args.provider)
    if not removed:
        raise CliError(f"{args.user} holds no {args.role} grant for {scope}")
    print(f"revoked {args.role} from {args.user} for {scope}")
    return EXIT_OK


def cmd_roles_list(args: argparse.Namespace, ctx: Context) -> int:
    from bot.domain import roles

    with ctx.store() as store, store.reading() as tx:
        rows = [
            (
                g.user_id,
                g.role.value,
                g.provider_scope,
                g.granted_by,
                g.granted_at.isoformat(timespec="seconds") if g.granted_at else "",
            )
            for g in roles.list_grants(tx, ctx.settings.admins, args.user)
        ]
    if not rows:
        print("no roles granted")
        return EXIT_OK
    header = ("user", "role", "provider", "granted_by", "granted_at")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def register_audit(sub: Any) -> None:
    from bot.store.audit import FORMATS

    p = sub.add_parser("audit", parents=[_common()], help="the audit log")
    audit = p.add_subparsers(dest="audit_command", required=True, metavar="{export}")
    ex = audit.add_parser(
        "export",
        parents=[_common()],
        help="stream audit events as CSV or JSON Lines",
        description="Stream audit events in id order; memory use does not grow with the log.",
    )
    ex.add_argument("--format", choices=FORMATS, default="csv", dest="fmt")
    ex.add_argument(
        "--since",
        type=_iso_datetime,
        metavar="ISO-DATE",
        help="only events at or after this moment (UTC unless an offset is given)",
    )
    ex.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    ex.set_defaults(handler=cmd_audit_export)


def cmd_audit_export(args: argparse.Namespace, ctx: Context) -> int:
    from bot.store.audit import export

    with ctx.store() as store:
        if args.output:
            try:
                out: TextIO = open(args.output, "w", encoding="utf-8", newline="")
            except OSError as exc:
                raise CliError(f"{args.output}: cannot write: {exc.strerror}") from None
            with out:
                count = export(store, args.fmt, out, args.since)
            print(f"wrote {count} events to {args.output}", file=sys.stderr)
        else:
            export(store, args.fmt, sys.stdout, args.since)
            sys.stdout.flush()
    return EXIT_OK


def register_config(sub: Any) -> None:
    p = sub.add_parser("config", parents=[_common()], help="check the configuration")
    config = p.add_subparsers(dest="config_command", required=True, metavar="{check}")
    check = config.add_parser(
        "check",
        parents=[_common()],
        help="validate the config and print it with every secret masked",
    )
    check.add_argument(
        "--online",
        action="store_true",
        help="also ask each provider whether it is reachable, accepts the credentials and"
        " grants the rights the actions need (exit 1 when one does not)",
    )
    check.set_defaults(handler=cmd_config_check)


def cmd_config_check(args: argparse.Namespace, ctx: Context) -> int:
    from bot.config import placeholder_problems

    settings = ctx.settings
    if placeholders := placeholder_problems(settings):
        raise ConfigError(placeholders)
    print(json.dumps(settings.masked(), indent=2, ensure_ascii=False))
    source = str(ctx.config_file) if ctx.config_file.exists() else "no config file"
    names = ", ".join(settings.providers) or "none"
    print(f"config OK ({source}); providers: {names}", file=sys.stderr)
    for problem in settings.serve_problems():
        print(f"note: `resetbot serve` would refuse to start: {problem}", file=sys.stderr)
    if getattr(args, "online", False):
        return _check_providers_online(settings)
    return EXIT_OK


def _check_providers_online(settings: Settings) -> int:
    """One line per provider: reachable, credentials accepted, rights held; then each shortfall."""
    from providers.base import CredentialCheck, ProviderError
    from providers.registry import build_providers

    failed = False
    instances = build_providers(settings.providers)
    try:
        for name, instance in instances.items():
            try:
                check = instance.check_credentials()
            except ProviderError as exc:
                check = CredentialCheck(ok=False, detail=str(exc))
            failed = failed or not check.ok
            print(f"{'ok  ' if check.ok else 'FAIL'} {name} ({instance.title}): {check.detail}")
            for line in check.shortfalls:
                print(f"     - {line}")
    finally:
        for instance in instances.values():
            instance.close()
    return EXIT_ERROR if failed else EXIT_OK


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return port


def register_demo(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        parents=[_common()],
        help="the whole flow on this machine: no Slack workspace or provider accounts needed",
        description="Start the real bot over HTTP with a SQLite store in a temporary directory,"
        " a local Slack stand-in and a sandbox for each provider kind, all on 127.0.0.1; play a"
        " scripted session; print the channel transcript and the audit trail; stop and remove"
        " everything. Reads no config file.",
    )
    p.add_argument(
        "--port", type=_port, default=0, help="the bot's HTTP port (default: any free one)"
    )
    p.add_argument(
        "--keep-running",
        action="store_true",
        help="stay up afterwards for `resetbot demo say` and `resetbot demo click`"
        " (Ctrl-C or SIGTERM stops it)",
    )
    p.set_defaults(handler=cmd_demo)
    demo = p.add_subparsers(dest="demo_command", metavar="{say,click,transcript,home}")
    say = demo.add_parser(
        "say",
        parents=[_common()],
        help="type a command in the running demo's #it-support as someone",
        description="Type /reset-password … in a demo started with --keep-running; prints what"
        " changed in the channels.",
    )
    say.add_argument("user", help="who types it: @alice, @bob, @carol, @dan, @erin or @ada")
    say.add_argument("text", help='the command, e.g. "/reset-password help"')
    say.set_defaults(handler=cmd_demo_say)
    click = demo.add_parser(
        "click",
        parents=[_common()],
        help="click Approve or Deny on a request in the running demo",
        description="Click a button on a request's approval message and submit the form it"
        " opens; prints what changed in the channels.",
    )
    click.add_argument("user", help="who clicks, e.g. @bob")
    click.add_argument("button", choices=["approve", "deny"])
    click.add_argument("request_id", metavar="ID", help="the request id, e.g. R7K2M9QX")
    click.add_argument("--note", default="", help="optional note in the approval form")
    click.add_argument("--reason", default="", help="the Deny form's reason (required to deny)")
    click.set_defaults(handler=cmd_demo_click)
    transcript = demo.add_parser(
        "transcript", parents=[_common()], help="print the running demo's whole transcript"
    )
    transcript.set_defaults(handler=cmd_demo_transcript)
    home = demo.add_parser(
        "home", parents=[_common()], help="print a person's Home tab in the running demo"
    )
    home.add_argument("user", help="whose Home tab, e.g. @bob")
    home.set_defaults(handler=cmd_demo_home)


def cmd_demo(args: argparse.Namespace, ctx: Context) -> int:
    from bot.demo.client import DemoError, read_state
    from bot.demo.startup import Progress, check_port

    started = time.monotonic()
    try:
        # What can fail at once, fails before anything loads.
        if args.keep_running and (running := read_state()) is not None:
            raise DemoError(f"a demo is already running (pid {running.pid}); stop it first")
        if args.port:
            check_port(args.port)
        progress = Progress(sys.stderr)
        progress.step("loading the bot")
        # Imported only now: the demo pulls in the bot, the stand-in and the sandboxes.
        from bot.demo.session import DemoOptions, run

        return run(
            DemoOptions(
                port=args.port, keep_running=args.keep_running, progress=progress, started=started
            )
        )
    except DemoError as exc:
        raise CliError(str(exc)) from None


def _demo_send(method: str, path: str, body: dict[str, Any] | None = None) -> int:
    from bot.demo.client import DemoError, send

    try:
        output = send(method, path, body)
    except DemoError as exc:
        raise CliError(str(exc)) from None
    print(output or "(nothing changed)")
    return EXIT_OK


def cmd_demo_say(args: argparse.Namespace, ctx: Context) -> int:
    return _demo_send("POST", "/say", {"user": args.user, "text": args.text})


def cmd_demo_click(args: argparse.Namespace, ctx: Context) -> int:
    return _demo_send(
        "POST",
        "/click",
        {
            "user": args.user,
            "button": args.button,
            "request_id": args.request_id,
            "note": args.note,
            "reason": args.reason,
        },
    )


def cmd_demo_home(args: argparse.Namespace, ctx: Context) -> int:
    return _demo_send("POST", "/home", {"user": args.user})


def cmd_demo_transcript(args: argparse.Namespace, ctx: Context) -> int:
    return _demo_send("GET", "/transcript")


# Each command group registers its own parser; a new command adds one function here.
REGISTRARS: list[Callable[[Any], None]] = [
    register_serve,
    register_db,
    register_roles,
    register_audit,
    register_config,
    register_demo,
]


def _common() -> argparse.ArgumentParser:
    # Accepted before or after the subcommand: `resetbot --config x db upgrade` and
    # `resetbot db upgrade --config x` both work.
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="TOML config file (default: $RESETBOT_CONFIG, else ./resetbot.toml)",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="resetbot",
        parents=[_common()],
        description="Slack chat-ops bot for reviewed, recorded admin password resets.",
    )
    parser.add_argument("--version", action="version", version=f"resetbot {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in REGISTRARS:
        register(sub)
    return parser


def _say(message: str) -> None:
    print(f"resetbot: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one command; expected failures print one line each and return a non-zero status."""
    from bot.store.db import StoreError
    from bot.store.migrate import SchemaError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has already explained
        return int(exc.code) if isinstance(exc.code, int) else EXIT_CONFIG
    ctx = Context(getattr(args, "config", None))
    handler: Handler = args.handler
    try:
        return handler(args, ctx)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    except (CliError, SchemaError) as exc:
        _say(str(exc))
        return EXIT_ERROR
    except StoreError as exc:
        _say(f"database error: {exc}")
        return EXIT_ERROR
    except BrokenPipeError:
        # `resetbot audit export | head`: the reader left; that is not our failure. Point stdout
        # at /dev/null so that the interpreter's final flush does not complain again.
        with suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return 130
