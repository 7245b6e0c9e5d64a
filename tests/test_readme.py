"""README.md is true: every command on it is run, or at least checked as a valid invocation.

Console blocks (```console, lines starting with ``$ ``) are read in order. Each command goes to
exactly one check below (``check_for``); a command no check knows fails the suite, so a new
command on the page needs a new check. Commands are run in a throw-away copy of the
repository's files, with no RESETBOT_*/SLACK_* variables and $HOME and the temp dirs inside it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.config import Settings, SlackSettings, load_settings
from bot.metrics import version
from bot.server import BackgroundServer, make_wsgi_app
from bot.slack import parsing
from providers.registry import build_providers

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent  # the virtualenv the tests run in: the README's .venv/bin
EXAMPLE_ID = "R7K2M9QX"  # the made-up request id in the demo's say/click example
AND = "&&"
SHELL_FENCES = ("```sh", "```shell", "```bash")
SLACK_VARIABLES = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"}


@dataclass(frozen=True)
class Command:
    section: str  # the "## " heading it is under
    block: int  # which console block (0-based)
    line: str  # the whole line after "$ "
    argv: tuple[str, ...]  # this command (a line may chain several with &&)

    @property
    def program(self) -> str:
        """argv[0] without the README's ``.venv/bin/`` prefix."""
        return self.argv[0].removeprefix(".venv/bin/")

    @property
    def args(self) -> list[str]:
        return list(self.argv[1:])


@dataclass
class Block:
    section: str
    index: int
    commands: list[Command] = field(default_factory=list)
    output: list[str] = field(default_factory=list)


def console_blocks(text: str = README) -> list[Block]:
    """Console blocks (``$ `` commands, other lines output) and shell blocks (all commands)."""
    blocks: list[Block] = []
    section = ""
    current: Block | None = None
    shell = False
    for line in text.splitlines():
        if current is None:
            if line.startswith("## "):
                section = line[3:].strip()
            elif line.strip() in ("```console", *SHELL_FENCES):
                current = Block(section, len(blocks))
                shell = line.strip() in SHELL_FENCES
            continue
        if line.strip() == "```":
            blocks.append(current)
            current = None
            continue
        if shell and line.strip() and not line.lstrip().startswith(("#", "$ ")):
            line = "$ " + line.strip()
        if line.startswith("$ "):
            tokens = shlex.split(line[2:], comments=True)
            chain: list[str] = []
            for word in [*tokens, AND]:
                if word != AND:
                    chain.append(word)
                elif chain:
                    current.commands.append(Command(section, current.index, line[2:], tuple(chain)))
                    chain = []
        elif line.strip():
            current.output.append(line)
    assert current is None, "a console block is not closed"
    return blocks


def commands() -> list[Command]:
    return [c for b in console_blocks() for c in b.commands]


def output_blocks() -> list[Block]:
    """Blocks that show what a command prints: each needs its own test."""
    return [b for b in console_blocks() if b.output]


def check_for(command: Command) -> str:
    """Which check below covers ``command``; KeyError for a command nobody checks."""
    program, args = command.program, command.args
    if command.block in {b.index for b in output_blocks()}:
        return "test_config_problems_example"
    if program == "python":
        return (
            "test_test_command_is_what_ci_runs"
            if args == ["-m", "pytest"]
            else "test_other_python_commands"
        )
    if program == "resetbot":
        if args[:1] == ["serve"]:
            return "test_parses_only"  # needs Slack; its parsing and variables are checked
        if args[:1] == ["demo"]:
            return (
                "test_demo_keep_running"
                if args[1:2] != [] and args[1] in ("--keep-running", "say", "click", "transcript")
                else "test_quick_start_demo"
            )
        return "test_operator_walkthrough"
    checks = {
        "python3": "test_install_commands",
        "pip": "test_install_commands",
        ".": "test_install_commands",
        "cp": "test_operator_walkthrough",
        "export": "test_operator_walkthrough",
        "sqlite3": "test_operator_walkthrough",
        "pg_dump": "test_postgres_backup",
        "pg_restore": "test_postgres_backup",
        "curl": "test_healthz_example",
    }
    return checks[program]


def covered_by(check: str) -> list[Command]:
    found = [c for c in commands() if check_for(c) == check]
    assert found, f"the README has no command for {check} any more"
    return found


def parse_error(argv: list[str]) -> str | None:
    """What argparse says about ``resetbot <argv>``, or None when it parses."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            build_parser().parse_args(argv)
        except SystemExit as exc:
            return err.getvalue().strip() or f"exit {exc.code}"
    return None


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A directory laid out like a fresh clone (the files the README's commands use)."""
    where = tmp_path / "clone"
    where.mkdir()
    for name in ("resetbot.example.toml", "Procfile", "slack-manifest.yml", "pyproject.toml"):
        shutil.copy(ROOT / name, where / name)
    return where


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.upper().startswith(("RESETBOT_", "SLACK_"))
    }
    for name in ("home", "run", "tmp"):
        (tmp_path / name).mkdir()
    clean.update(
        HOME=str(tmp_path / "home"),
        XDG_RUNTIME_DIR=str(tmp_path / "run"),
        TMPDIR=str(tmp_path / "tmp"),
        PATH=f"{BIN}{os.pathsep}{clean.get('PATH', '')}",
    )
    return clean


def run(
    argv: list[str] | tuple[str, ...], cwd: Path, env: dict[str, str], timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    program = argv[0].removeprefix(".venv/bin/")
    exe = BIN / program if (BIN / program).exists() else shutil.which(program, path=env["PATH"])
    assert exe is not None, f"{program} is not installed"
    return subprocess.run(  # noqa: S603 (commands from our own README)
        [str(exe), *argv[1:]],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


class TestEveryCommand:
    def test_every_command_has_a_check(self) -> None:
        """A command the checks below do not know fails here: add a check for it."""
        unknown = []
        for command in commands():
            try:
                check_for(command)
            except KeyError:
                unknown.append(command.line)
        assert not unknown, f"README commands no test checks: {unknown}"

    def test_every_resetbot_command_parses(self) -> None:
        """Every ``resetbot …`` in a console block is a valid invocation (commands, flags)."""
        found = [c for c in commands() if c.program == "resetbot"]
        assert len(found) > 15
        problems = {c.line: parse_error(c.args) for c in found}
        assert {k: v for k, v in problems.items() if v} == {}

    def test_parses_only(self) -> None:
        """``resetbot serve`` needs Slack: it parses, and the variables set for it are real."""
        for command in covered_by("test_parses_only"):
            assert parse_error(command.args) is None
        exported = [
            name.split("=")[0] for c in commands() if c.program == "export" for name in c.args
        ]
        assert set(exported) <= SLACK_VARIABLES
        assert {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"} <= set(exported)


def _subcommands(parser: object) -> dict[str, object]:
    for action in getattr(parser, "_actions", []):
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict):
            return choices
    return {}


def _options(parser: object) -> set[str]:
    return {s for a in getattr(parser, "_actions", []) for s in a.option_strings}


def _choices(parser: object) -> set[str]:
    return {
        str(c)
        for a in getattr(parser, "_actions", [])
        if isinstance(a.choices, list | tuple)
        for c in a.choices
    }


def _all_options(parser: object) -> set[str]:
    found = set(_options(parser))
    for sub in _subcommands(parser).values():
        found |= _all_options(sub)
    return found


class TestProse:
    def test_synopses_name_real_commands_and_flags(self) -> None:
        """Inline ``resetbot …`` synopses (the command table, the prose) name real things."""
        spans = re.findall(r"`(resetbot [^`]+)`", README.replace("\\|", "|"))
        assert len(spans) > 15
        problems = []
        for span in spans:
            parser: object = build_parser()
            for token in span.split()[1:]:
                word = token.strip("[]")
                subs = _subcommands(parser)
                if word in subs:
                    parser = subs[word]
                elif word.startswith("--"):
                    if word not in _options(parser):
                        problems.append(f"{span}: no option {word}")
                elif "|" in word and word == word.lower():
                    missing = set(word.split("|")) - _choices(parser)
                    if missing:
                        problems.append(f"{span}: no choice {sorted(missing)}")
                elif word == word.lower() and not word.startswith(("<", "$", "'", '"')):
                    problems.append(f"{span}: {word!r} is neither a command nor a choice")
        assert problems == []

    def test_flags_in_prose_exist(self) -> None:
        """Every ``--flag`` on the page is an option of some ``resetbot`` command."""
        flags = set(re.findall(r"`(--[a-z-]+)", README))
        assert flags - _all_options(build_parser()) == set()

    def test_slack_commands_parse(self, clone: Path) -> None:
        """Every ``/reset-password …`` on the page means what it says to the real parser."""
        settings = load_settings(str(clone / "resetbot.example.toml"))
        built = build_providers(settings.providers)
        actions = {name: [a.name for a in p.actions] for name, p in built.items()}
        for provider in built.values():
            provider.close()
        texts = re.findall(r"(?:`|^    |\")(/reset-password(?: [^`\"\n]*)?)", README, re.M)
        assert len(texts) > 5
        for text in texts:
            # Slack turns a typed @name into a mention before the bot sees it.
            typed = re.sub(
                r"@(\w+)",
                lambda m: f"<@U0{m[1].upper()}>",
                text.removeprefix("/reset-password").strip(),
            )
            command = parsing.parse(typed, actions)
            assert not (isinstance(command, parsing.Help) and command.unknown), text

    def test_environment_variables_exist(self, clone: Path, env: dict[str, str]) -> None:
        """Every RESETBOT_* variable named is read; the Procfile paragraph's examples work."""
        names = set(re.findall(r"\bRESETBOT_[A-Z0-9_]*[A-Z0-9]\b", README))
        read_elsewhere = {
            "RESETBOT_CONFIG": ROOT / "bot" / "config.py",
            "RESETBOT_THREADS": ROOT / "bot" / "server.py",
            "RESETBOT_TEST_PG_URL": ROOT / "tests" / "conftest.py",
        }
        for name in sorted(names):
            if name in read_elsewhere:
                assert name in read_elsewhere[name].read_text(encoding="utf-8"), name
                continue
            top, *rest = name.removeprefix("RESETBOT_").lower().split("__")
            assert top in Settings.model_fields, name
            if top == "slack":
                assert rest and rest[0] in SlackSettings.model_fields, name
        examples = dict(re.findall(r"`(RESETBOT_PROVIDERS__[A-Z0-9_]+)=([^`]*)`", README))
        assert len(examples) >= 3
        for name, value in examples.items():
            env[name] = (
                "https://flags.example.com"
                if name.endswith("_URL")
                else (value.replace("…", "") or "x")
            )
        done = run(["resetbot", "config", "check"], clone, env)
        assert done.returncode == 0, done.stderr
        assert '"kind": "unleash"' in done.stdout

    def test_procfile_block_is_the_procfile(self) -> None:
        """The Procfile shown is the repository's, and its commands parse."""
        shown = re.search(r"```text\n(release: .*?)```", README, re.S)
        assert shown is not None
        procfile = (ROOT / "Procfile").read_text(encoding="utf-8")
        assert shown[1] == procfile
        for line in procfile.splitlines():
            _, command = line.split(":", 1)
            argv = shlex.split(command)
            assert argv[0] == "resetbot" and parse_error(argv[1:]) is None

    def test_toml_example_is_accepted(self, clone: Path, env: dict[str, str]) -> None:
        """The PostgreSQL ``database_url`` line is a valid config."""
        (block,) = re.findall(r"```toml\n(.*?)```", README, re.S)
        tomllib.loads(block)
        (clone / "pg.toml").write_text(block, encoding="utf-8")
        done = run(["resetbot", "config", "check", "--config", "pg.toml"], clone, env)
        assert done.returncode == 0, done.stderr
        assert "postgresql+psycopg://resetbot:" in done.stdout
        assert "@db.example.com/resetbot" in done.stdout and "PASSWORD" not in done.stdout


class TestQuickStart:
    def test_install_commands(self) -> None:
        """The virtualenv and pip lines install this project, with extras that exist."""
        project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        assert "resetbot" in project["scripts"]
        minimum = re.search(r">=\s*(\d+\.\d+)", project["requires-python"])
        assert minimum is not None
        assert f"Python {minimum[1]} or newer" in README
        for command in covered_by("test_install_commands"):
            if command.program == "python3":
                assert command.args == ["-m", "venv", ".venv"]
            elif command.program == ".":
                assert command.args == [".venv/bin/activate"]
                assert (BIN / "activate").exists()
            else:
                assert command.argv[0] == ".venv/bin/pip" and command.args[0] == "install"
                target = command.args[-1]
                assert set(command.args[1:-1]) <= {"-e"}
                match = re.fullmatch(r"\.(?:\[([a-z,]+)\])?", target)
                assert match is not None, target
                extras = set((match[1] or "").split(",")) - {""}
                assert extras <= set(project["optional-dependencies"])
        first = commands()[0]
        assert first.section == "Quick start" and first.argv[:4] == (
            "python3",
            "-m",
            "venv",
            ".venv",
        )

    def test_two_commands_to_the_demo(self) -> None:
        """From a fresh clone: exactly two command lines, the second starts the demo."""
        quick = [b for b in console_blocks() if b.section == "Quick start"]
        lines = [c.line for c in quick[0].commands]
        assert len(dict.fromkeys(lines)) == 2
        assert quick[0].commands[-1].argv == (".venv/bin/resetbot", "demo")

    def test_quick_start_demo(self, clone: Path, env: dict[str, str]) -> None:
        """``resetbot demo`` runs to the end from the clone, and leaves nothing there."""
        (command,) = covered_by("test_quick_start_demo")
        before = sorted(p.name for p in clone.iterdir())
        started = time.monotonic()
        done = run(command.argv, clone, env)
        assert done.returncode == 0, done.stderr
        assert time.monotonic() - started < 30
        assert "Scenes" in done.stdout and "Audit trail" in done.stdout
        assert sorted(p.name for p in clone.iterdir()) == before
        # The excerpt shown on the page is what it prints (but for the ids and the cuts: …).
        excerpt = re.search(r"```text\n(Scenes\n.*?)```", README, re.S)
        assert excerpt is not None
        shown = [line for line in excerpt[1].splitlines() if line and "…" not in line]
        assert len(shown) > 10
        for line in shown:
            pattern = re.sub(r"\bR[0-9A-Z]{7}\b", "R[0-9A-Z]{7}", re.escape(line))
            assert re.search(f"^{pattern}$", done.stdout, re.M), line

    def test_test_command_is_what_ci_runs(self) -> None:
        """The README's test command is the one .ci/run runs, after the same install."""
        lines = {c.line for c in covered_by("test_test_command_is_what_ci_runs")}
        assert lines == {".venv/bin/python -m pytest"}
        (line,) = lines
        ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
        runs = [
            line.split("<")[0].split("||")[0].strip()
            for line in ci.splitlines()
            if "-m pytest" in line and not line.lstrip().startswith(("#", "say", "echo"))
        ]
        assert runs == [line]
        assert "pip install --quiet -e '.[test]'" in ci
        assert "pip install -e '.[test]'" in README


class KeptDemo:
    def __init__(self, argv: tuple[str, ...], cwd: Path, env: dict[str, str]) -> None:
        exe = BIN / argv[0].removeprefix(".venv/bin/")
        self.proc = subprocess.Popen(  # noqa: S603 (a command from our own README)
            [str(exe), *argv[1:]],
            cwd=cwd,
            env=env,
            text=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                if "demo transcript" in self.lines.get(timeout=0.2):
                    return
        raise AssertionError("the demo never said it keeps running")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def kept(clone: Path, env: dict[str, str]) -> Iterator[KeptDemo]:
    (start,) = [
        c for c in covered_by("test_demo_keep_running") if c.args == ["demo", "--keep-running"]
    ]
    demo = KeptDemo(start.argv, clone, env)
    try:
        yield demo
    finally:
        if demo.proc.poll() is None:
            demo.stop()


def test_demo_keep_running(kept: KeptDemo, clone: Path, env: dict[str, str]) -> None:
    """The --keep-running example works as written: say, click, click again, transcript."""
    kept.wait_ready()
    rid = None
    results = []
    for command in covered_by("test_demo_keep_running"):
        if command.args == ["demo", "--keep-running"]:
            continue
        argv = [rid if a == EXAMPLE_ID and rid else a for a in command.argv]
        done = run(argv, clone, env)
        results.append((command.args[1], done))
        if command.args[1] == "say":
            assert done.returncode == 0, done.stderr
            found = re.search(r"Request `(R[0-9A-Z]+)` filed", done.stdout)
            assert found is not None, done.stdout
            rid = found[1]
    (say, first, second, transcript) = results
    assert say[0] == "say" and "[Approve] [Deny]" in say[1].stdout
    assert first[0] == "click" and first[1].returncode == 0, first[1].stderr
    assert "Done: Mighty Networks sent a password-reset e-mail to Uma Upton" in first[1].stdout
    # The README says the second click finds the request already decided.
    assert second[0] == "click" and second[1].returncode == 1
    assert second[1].stderr == f"resetbot: request {rid} is succeeded: its buttons are gone\n"
    assert transcript[0] == "transcript" and transcript[1].returncode == 0
    assert "approved by @bob" in transcript[1].stdout
    assert kept.stop() == 0


def test_operator_walkthrough(clone: Path, env: dict[str, str]) -> None:
    """cp, config check, db, roles, audit export and the SQLite backup, run as written."""
    ran = []
    for command in covered_by("test_operator_walkthrough"):
        if command.program == "export":
            for assignment in command.args:
                name, _, value = assignment.partition("=")
                assert name in SLACK_VARIABLES or name.startswith("RESETBOT_"), name
                env[name] = value
            continue
        done = run(command.argv, clone, env)
        assert done.returncode == 0, f"{command.line}: {done.stderr}"
        assert "Traceback" not in done.stderr
        ran.append((command, done))
        if command.program == "cp":  # "then edit: admins, providers, tokens", as it says
            config = clone / "resetbot.toml"
            config.write_text(config.read_text().replace("replace-me", "t0ken-from-the-vendor"))
    programs = [c.program for c, _ in ran]
    assert programs.count("resetbot") >= 8 and "cp" in programs and "sqlite3" in programs
    listed = next(d for c, d in ran if c.args == ["roles", "list"])
    for user in ("U0123ABCD", "U0456EFGH", "U0789IJKL"):
        assert user in listed.stdout
    assert (
        (clone / "audit.csv")
        .read_text(encoding="utf-8")
        .startswith("id,at,actor,action,request_id,provider,target,outcome,details\n")
    )
    with contextlib.closing(sqlite3.connect(clone / "resetbot-backup.db")) as backup:
        grants = backup.execute("SELECT count(*) FROM role_grants").fetchone()[0]
    assert grants == 3


def test_config_problems_example(clone: Path, env: dict[str, str]) -> None:
    """The bad-config example prints exactly what the README shows, with exit status 2."""
    (block,) = output_blocks()
    (command,) = block.commands
    assert command.args == ["config", "check"]
    (clone / "resetbot.toml").write_text(
        '[providers.edge]\nkind = "f5"\nbase_url = "https://acme.console.ves.volterra.io"\n'
        'token = "x"\n\n[providers.flags]\nkind = "unleash"\n'
        'base_url = "https://unleash.example.com"\n\n[providers.community]\n'
        'kind = "mighty_networks"\nnetwork_id = "acme"\ntoken = "x"\nbase_url = "not a url"\n',
        encoding="utf-8",
    )
    done = run(command.argv, clone, env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == block.output


def test_healthz_example(clone: Path, env: dict[str, str]) -> None:
    """The health check URL is served: the README's curl against a local server answers ok."""
    (command,) = covered_by("test_healthz_example")
    (url,) = [a for a in command.args if a.startswith("https://")]
    assert url.endswith("/healthz")
    with BackgroundServer(make_wsgi_app(None, health=lambda: True)) as server:
        local = re.sub(r"^https://[^/]+", server.url, url)
        done = run(
            ["curl", "--silent", "--show-error", *[local if a == url else a for a in command.args]],
            clone,
            env,
        )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ok": True, "version": version()}


@pytest.mark.postgres
def test_postgres_backup(clone: Path, env: dict[str, str], pg_url: str) -> None:
    """pg_dump and pg_restore as written, against a real database resetbot migrated."""
    env["RESETBOT_DATABASE_URL"] = pg_url
    for argv in (
        ["resetbot", "db", "upgrade"],
        ["resetbot", "roles", "grant", "U0123ABCD", "approver"],
    ):
        done = run(argv, clone, env)
        assert done.returncode == 0, done.stderr
    libpq = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    for command in covered_by("test_postgres_backup"):
        argv = [re.sub(r"postgresql://[^\s\"]+", libpq, a) for a in command.argv]
        assert argv != list(command.argv), "the README's URL was not found to replace"
        done = run(argv, clone, env)
        assert done.returncode == 0, f"{command.line}: {done.stderr}"
    assert (clone / "resetbot.dump").stat().st_size > 0
    listed = run(["resetbot", "roles", "list"], clone, env)
    assert "U0123ABCD" in listed.stdout


def test_other_python_commands() -> None:
    """Other sections' ``python -m pytest <paths>`` and ``python -m <module>`` lines are valid."""
    for command in covered_by("test_other_python_commands"):
        assert command.argv[0] == ".venv/bin/python", command.line
        args = command.args
        if args[:2] == ["-m", "pytest"]:
            helped = run(["python", "-m", "pytest", "--help"], ROOT, dict(os.environ))
        elif args[:1] == ["-m"]:
            # Run from the repository's root, as the README means: -m finds tests.* there.
            helped = run(["python", "-m", args[1], "--help"], ROOT, dict(os.environ))
        else:
            assert (ROOT / args[0]).is_file(), command.line
            helped = run(["python", args[0], "--help"], ROOT, dict(os.environ))
        assert helped.returncode == 0, f"{command.line}: {helped.stderr}"
        rest = args[2:] if args[:1] == ["-m"] else args[1:]
        for arg in rest:
            if arg.startswith("-"):
                assert re.search(
                    rf"(^|[\s,]){re.escape(arg.split('=')[0])}\b", helped.stdout, re.M
                ), f"{command.line}: no option {arg}"
            elif args[:2] == ["-m", "pytest"]:
                assert (ROOT / arg.split("::")[0]).exists(), f"{command.line}: no {arg}"
