"""Production: the deployment files parse and set only real settings; `aduan doctor` names
what is wrong and how to fix it; `aduan backup` copies SQLite online and dumps PostgreSQL."""

from __future__ import annotations

import asyncio
import configparser
import ipaddress
import re
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
import pytest
from pydantic import AliasChoices
from sqlalchemy.engine import make_url

from bot import backup as backup_module
from bot.app import prepare_database
from bot.backup import libpq_url, run_backup
from bot.doctor import run_doctor
from bot.sandbox.emulator import Emulator
from bot.settings import BotMode, Settings
from storage.database import create_engine, migrate
from tests.conftest import TEST_TOKEN, make_settings
from tests.support.databases import POSTGRES_URL

pytestmark = pytest.mark.timeout(30)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
# Settings being added with the multi-worker runtime (issue 13). The deployment files use them
# already; remove a name from here once it is a field of Settings.
PENDING: set[str] = set()
# Variables the Dockerfile sets for Python and pip, not for Aduan.
INTERPRETER_VARIABLES = {
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}
PUBLIC_WEBHOOK = "https://bot.example.go.id/telegram/webhook"
SECRET = "s" * 32


# ================================================================== the deployment files
def setting_names() -> set[str]:
    """Every environment name Settings reads: the upper-cased field names and any aliases."""
    names = set()
    for name, info in Settings.model_fields.items():
        names.add(name.upper())
        for alias in (info.alias, info.validation_alias):
            if isinstance(alias, str):
                names.add(alias.upper())
            elif isinstance(alias, AliasChoices):
                names.update(str(choice).upper() for choice in alias.choices)
    return names


def systemd_unit(path: Path) -> configparser.ConfigParser:
    """A unit file read as systemd reads it: sections, case-sensitive keys, repeated keys."""
    parser = configparser.ConfigParser(
        strict=False, interpolation=None, empty_lines_in_values=False
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def env_file_names(path: Path) -> tuple[dict[str, str], set[str]]:
    """An env file's assignments, and the names of its commented-out examples (``# NAME=``)."""
    assigned, examples = {}, set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line):
            assigned[match.group(1)] = match.group(2)
        elif match := re.fullmatch(r"#\s*([A-Z][A-Z0-9_]*)=\S*", line.strip()):
            examples.add(match.group(1))
        else:
            assert not line.strip() or line.startswith("#"), f"{path.name}: cannot read {line!r}"
    return assigned, examples


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    pairs = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, arguments = line.strip().partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def dockerfile_env_names(arguments: str) -> set[str]:
    """The names an ``ENV`` instruction sets (``ENV A=1 B=2`` or ``ENV A 1``)."""
    if "=" not in arguments.split()[0]:
        return {arguments.split()[0]}
    return {pair.split("=", 1)[0] for pair in arguments.split()}


def load_compose(path: Path) -> dict[str, Any]:
    """compose.yaml with PyYAML when it is installed, else with the block-style subset reader."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return read_block_yaml(path.read_text(encoding="utf-8"))
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def read_block_yaml(text: str) -> dict[str, Any]:
    """Block-style YAML (mappings, ``- item`` lists, plain or quoted scalars), strictly."""
    lines = []
    for raw in text.splitlines():
        content = re.sub(r"\s+#.*$", "", raw) if not raw.lstrip().startswith("#") else ""
        if content.strip():
            assert "\t" not in raw, f"a tab in {raw!r}"
            assert not re.search(r"[{\[]\s*$|^\s*[\[{]", content), f"flow style in {raw!r}"
            lines.append((len(content) - len(content.lstrip()), content.strip()))

    def scalar(value: str) -> str:
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            return value[1:-1]
        return value

    def block(start: int, indent: int) -> tuple[Any, int]:
        is_list = lines[start][1].startswith("- ")
        result: Any = [] if is_list else {}
        index = start
        while index < len(lines):
            level, content = lines[index]
            if level < indent:
                break
            assert level == indent, f"unexpected indentation at {content!r}"
            if is_list:
                assert content.startswith("- "), f"a list item expected at {content!r}"
                result.append(scalar(content[2:].strip()))
                index += 1
                continue
            key, colon, value = content.partition(":")
            assert colon and not content.startswith("- "), f"a mapping key expected at {content!r}"
            assert key not in result, f"duplicate key {key!r}"
            value = value.strip()
            if value:
                result[key] = scalar(value)
                index += 1
            elif index + 1 < len(lines) and lines[index + 1][0] > level:
                result[key], index = block(index + 1, lines[index + 1][0])
            else:
                result[key] = None
                index += 1
        return result, index

    parsed, end = block(0, 0)
    assert end == len(lines)
    return dict(parsed)


@dataclass
class NginxBlock:
    """A directive of nginx.conf: name, arguments and (for a block) its directives."""

    name: str
    args: list[str]
    children: list[NginxBlock] = field(default_factory=list)

    def find(self, name: str) -> Iterator[NginxBlock]:
        """Every directive named ``name`` below this one, at any depth."""
        for child in self.children:
            if child.name == name:
                yield child
            yield from child.find(name)

    def values(self, name: str) -> list[list[str]]:
        """The arguments of this block's own directives named ``name``."""
        return [child.args for child in self.children if child.name == name]


def parse_nginx(text: str) -> NginxBlock:
    """nginx.conf into blocks; fails on unbalanced braces or a directive without ``;``."""
    tokens = re.findall(r'"[^"]*"|\'[^\']*\'|[{};]|[^\s{};"\']+', re.sub(r"#[^\n]*", "", text))
    root = NginxBlock("main", [])
    stack, words = [root], []
    for token in tokens:
        if token == "{":
            assert words, "a block without a name"
            block = NginxBlock(words[0], words[1:])
            stack[-1].children.append(block)
            stack.append(block)
            words = []
        elif token == "}":
            assert not words, f"{words} is missing its ';'"
            assert len(stack) > 1, "a '}' closes nothing"
            stack.pop()
        elif token == ";":
            assert words, "an empty directive"
            stack[-1].children.append(NginxBlock(words[0], words[1:]))
            words = []
        else:
            words.append(token)
    assert not words, f"{words} is missing its ';'"
    assert len(stack) == 1, "a '{' is never closed"
    return root


def seconds(value: str) -> int:
    """An nginx time (``90s``, ``2m``) in seconds."""
    number, unit = re.fullmatch(r"(\d+)(s|m)?", value).groups()  # type: ignore[union-attr]
    return int(number) * (60 if unit == "m" else 1)


def test_the_systemd_units_run_aduan_confined_to_its_data() -> None:
    unit = systemd_unit(DEPLOY / "aduan.service")
    assert {"Unit", "Service", "Install"} <= set(unit.sections())
    service = unit["Service"]
    assert service["User"] not in {"", "root"}
    assert service["EnvironmentFile"] == "/etc/aduan/aduan.env"
    assert service["ExecStart"].split()[0].startswith("/")  # systemd wants an absolute path
    assert service["ExecStart"].split()[1:] == ["run"]
    assert service["ExecStart"].split()[0].endswith("/aduan")
    assert service["Restart"] == "on-failure"
    assert service["NoNewPrivileges"] == "yes"
    assert service["PrivateTmp"] == "yes"
    assert service["ProtectSystem"] == "strict"
    writable = service["ReadWritePaths"].split()
    assert any(service["WorkingDirectory"].startswith(path) for path in writable)
    assert unit["Install"]["WantedBy"] == "multi-user.target"

    backup = systemd_unit(DEPLOY / "aduan-backup.service")["Service"]
    assert backup["Type"] == "oneshot"
    assert backup["ExecStart"].split()[1] == "backup"
    assert backup["User"] == service["User"]
    assert backup["EnvironmentFile"] == service["EnvironmentFile"]
    assert any(backup["ExecStart"].split()[2].startswith(path) for path in writable)
    timer = systemd_unit(DEPLOY / "aduan-backup.timer")
    assert timer["Timer"]["OnCalendar"] and timer["Install"]["WantedBy"] == "timers.target"


def test_nginx_proxies_the_webhook_and_keeps_metrics_internal() -> None:
    config = parse_nginx((DEPLOY / "nginx" / "aduan.conf").read_text(encoding="utf-8"))
    upstreams = {block.args[0]: block for block in config.find("upstream")}
    servers = list(config.find("server"))
    plain = next(s for s in servers if ["80"] in s.values("listen"))
    assert any("https://" in " ".join(r.args) for r in plain.find("return"))
    tls = next(s for s in servers if ["443", "ssl"] in s.values("listen"))
    assert tls.values("ssl_certificate") and tls.values("ssl_certificate_key")
    assert seconds(tls.values("proxy_read_timeout")[0][0]) > 60
    assert seconds(tls.values("proxy_send_timeout")[0][0]) > 60
    body_limit = tls.values("client_max_body_size")[0][0]
    assert re.fullmatch(r"\d+m", body_limit) and int(body_limit[:-1]) >= 1

    locations = {tuple(block.args): block for block in tls.children if block.name == "location"}
    webhook_path = urlparse(env_file_names(DEPLOY / "aduan.env.example")[0]["WEBHOOK_URL"]).path
    proxied = {args[-1] for args, block in locations.items() if block.values("proxy_pass")}
    # Only the webhook and the health and metrics endpoints reach the bot; the rest is 404.
    assert proxied == {webhook_path, "/healthz", "/readyz", "/metrics"}
    for path in proxied:
        target = urlparse(locations[("=", path)].values("proxy_pass")[0][0]).netloc
        assert target in upstreams
    assert locations[("/",)].values("return") == [["404"]]

    metrics = locations[("=", "/metrics")]
    rules = [child for child in metrics.children if child.name in {"allow", "deny"}]
    assert rules[-1].name == "deny" and rules[-1].args == ["all"]
    for rule in rules[:-1]:
        assert rule.name == "allow"
        network = ipaddress.ip_network(rule.args[0])
        assert network.is_private or network.is_loopback, network
    for path in ("/healthz", "/readyz"):
        assert not locations[("=", path)].values("deny")


def test_compose_runs_postgres_and_webhook_workers() -> None:
    compose = load_compose(DEPLOY / "compose.yaml")
    db, bot = compose["services"]["db"], compose["services"]["bot"]
    assert str(db["image"]).startswith("postgres:15")
    assert db["healthcheck"]["test"] and any(
        ":/var/lib/postgresql/data" in v for v in db["volumes"]
    )
    assert set(compose["volumes"]) >= {volume.split(":")[0] for volume in db["volumes"]}
    assert bot["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY / bot["build"]["context"] / bot["build"]["dockerfile"]).is_file()
    assert bot["env_file"] == ["aduan.env"]
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["environment"]["BOT_MODE"] == "webhook"
    assert int(bot["environment"]["WORKERS"]) > 1
    assert bot["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert "@db:5432/" in bot["environment"]["DATABASE_URL"]


def test_the_dockerfile_installs_the_project_and_runs_as_a_user() -> None:
    instructions = dockerfile_instructions(DEPLOY / "Dockerfile")
    names = [name for name, _ in instructions]
    stages = [args for name, args in instructions if name == "FROM"]
    assert stages[-1] == "python:3.11-slim"  # the image that runs; before it, Leaflet's build
    assert any(
        name == "COPY" and "--from=leaflet" in args and "bot/opendata/node_modules" in args
        for name, args in instructions
    )
    user = next(args for name, args in instructions if name == "USER")
    assert user not in {"root", "0"}
    assert names.index("USER") < names.index("CMD")
    assert any(
        name == "RUN" and "pip install -r requirements.lock" in args for name, args in instructions
    )
    assert any(name == "RUN" and "pip install --no-deps ." in args for name, args in instructions)
    assert any(name == "COPY" and "pyproject.toml" in args for name, args in instructions)
    assert next(args for name, args in instructions if name == "CMD") == '["aduan", "run"]'


def test_every_variable_the_deployment_sets_is_a_setting() -> None:
    assigned, examples = env_file_names(DEPLOY / "aduan.env.example")
    compose = load_compose(DEPLOY / "compose.yaml")
    in_compose = set(compose["services"]["bot"]["environment"])
    in_units = set()
    for unit in ("aduan.service", "aduan-backup.service"):
        service = systemd_unit(DEPLOY / unit)["Service"]
        for assignment in service.get("Environment", "").split():
            in_units.add(assignment.split("=", 1)[0])
    in_image = set()
    for name, arguments in dockerfile_instructions(DEPLOY / "Dockerfile"):
        if name == "ENV":
            in_image |= dockerfile_env_names(arguments) - INTERPRETER_VARIABLES

    known = setting_names() | PENDING
    for source, names in {
        "aduan.env.example": set(assigned) | examples,
        "compose.yaml (bot)": in_compose,
        "systemd units": in_units,
        "Dockerfile": in_image,
    }.items():
        assert names <= known, f"{source} sets {sorted(names - known)}, which are no settings"
    # The example sets what the deployment relies on, and compose overrides only those.
    assert {"TELEGRAM_BOT_TOKEN", "WEBHOOK_URL", "WEBHOOK_SECRET", "DATABASE_URL"} <= set(assigned)
    assert in_compose <= set(assigned)


def test_the_setting_names_come_from_settings() -> None:
    names = setting_names()
    assert {"TELEGRAM_BOT_TOKEN", "WEBHOOK_LISTEN", "DATABASE_URL"} <= names
    assert "POSTGRES_PASSWORD" not in names


# ========================================================================== aduan doctor
@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """The Bot API emulator on 127.0.0.1, knowing only TEST_TOKEN."""
    async with Emulator(TEST_TOKEN) as emulator:
        yield emulator


def holidays_file(folder: Path, years: list[int], *, provisional: int | None = None) -> Path:
    """A holidays file with New Year's Day of each year (a heading marks one provisional)."""
    lines = []
    for year in years:
        if year == provisional:
            lines.append(f"# {year} — PROVISIONAL: the SKB is not out yet")
        lines += ["[[holiday]]", f"date = {year}-01-01", 'name = "Tahun Baru"', 'kind = "national"']
    path = folder / "holidays.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def this_year() -> int:
    """The current year where the bot is (the doctor looks 12 months ahead of its today)."""
    return datetime.now(ZoneInfo("Asia/Jakarta")).year


@pytest.fixture
async def good_settings(tmp_path: Path, emulator: Emulator, this_year: int) -> Settings:
    """A deployment that is right: migrated SQLite, the emulator, a token, current holidays."""
    years = [this_year - 1, this_year, this_year + 1, this_year + 2]
    settings = make_settings(
        tmp_path,
        telegram_api_url=emulator.base_url,
        holidays_file=holidays_file(tmp_path, years),
    )
    engine = create_engine(settings.database_url)
    try:
        await prepare_database(settings, engine)
    finally:
        await engine.dispose()
    return settings


def lines(output: str) -> list[str]:
    """The check lines of the doctor's output (without the summary)."""
    return [line for line in output.splitlines() if line[:2] in {"✔ ", "! ", "✘ "}]


def line_of(output: str, check: str) -> str:
    """The line of one check."""
    return next(line for line in lines(output) if line[2:].startswith(f"{check}:"))


async def test_doctor_passes_a_good_setup(
    good_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_doctor(good_settings) == 0
    output = capsys.readouterr().out
    checks = lines(output)
    assert [line[2:].split(":")[0] for line in checks] == [
        "settings",
        "database",
        "token",
        "webhook",
        "reference data",
        "holidays",
    ]
    assert all(line.startswith("✔ ") for line in checks), output
    assert "migrations at head (0007)" in line_of(output, "database")
    assert "SQLite" in line_of(output, "database")
    assert "@aduan_test_bot" in line_of(output, "token")
    assert "11 agencies, 13 categories" in line_of(output, "reference data")
    assert TEST_TOKEN not in output


async def test_doctor_names_a_wrong_token_without_printing_it(
    good_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = good_settings.model_copy(update={"telegram_bot_token": "999999:WRONG-TOKEN-xyz"})
    assert await run_doctor(wrong) == 1
    output = capsys.readouterr().out
    assert line_of(output, "token") == (
        "✘ token: getMe answered 401 Unauthorized — fix: set TELEGRAM_BOT_TOKEN to the token "
        "@BotFather gave you (/token there shows it)"
    )
    assert line_of(output, "webhook").startswith("! webhook: skipped")
    assert "WRONG-TOKEN" not in output and "999999" not in output


async def test_doctor_hides_the_token_when_telegram_is_unreachable(
    good_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    unreachable = good_settings.model_copy(update={"telegram_api_url": "http://127.0.0.1:9"})
    assert await run_doctor(unreachable) == 1
    token = line_of(capsys.readouterr().out, "token")
    assert token.startswith("✘ token: cannot reach http://127.0.0.1:9/bot<redacted>/getMe")
    assert "TEST-TOKEN" not in token and "fix: check the server's internet access" in token


@pytest.mark.parametrize("revision", [None, "0003"])
async def test_doctor_asks_for_the_missing_migrations(
    good_settings: Settings,
    tmp_path: Path,
    revision: str | None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    behind = good_settings.model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}"}
    )
    engine = create_engine(behind.database_url)
    try:
        if revision:
            await migrate(engine, revision)
        else:
            async with engine.connect():
                pass  # an empty database file
    finally:
        await engine.dispose()
    assert await run_doctor(behind) == 1
    database = line_of(capsys.readouterr().out, "database")
    assert database.startswith("✘ database: SQLite")
    assert database.endswith("— fix: run `aduan migrate`")
    if revision:
        assert "at 0003; 4 migration(s) pending up to 0007" in database
    else:
        assert "empty (no migration applied); 7 migration(s) pending" in database


async def test_doctor_does_not_create_a_missing_sqlite_file(
    good_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "aduan.db"
    settings = good_settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{missing}"})
    assert await run_doctor(settings) == 1
    database = line_of(capsys.readouterr().out, "database")
    assert database.startswith(f"✘ database: no SQLite file at {missing}")
    assert "fix: run `aduan migrate`" in database
    assert not missing.parent.exists()


async def test_doctor_fails_a_holidays_file_that_ends_this_year(
    good_settings: Settings, tmp_path: Path, this_year: int, capsys: pytest.CaptureFixture[str]
) -> None:
    short = holidays_file(tmp_path, [this_year])
    assert await run_doctor(good_settings.model_copy(update={"holidays_file": short})) == 1
    holidays = line_of(capsys.readouterr().out, "holidays")
    assert holidays.startswith(f"✘ holidays: {short} lists no dates for {this_year + 1}")
    assert f"fix: add {this_year + 1}'s national holidays and cuti bersama" in holidays


async def test_doctor_warns_of_a_provisional_year(
    good_settings: Settings, tmp_path: Path, this_year: int, capsys: pytest.CaptureFixture[str]
) -> None:
    path = holidays_file(tmp_path, [this_year, this_year + 1], provisional=this_year + 1)
    assert await run_doctor(good_settings.model_copy(update={"holidays_file": path})) == 0
    holidays = line_of(capsys.readouterr().out, "holidays")
    assert holidays.startswith(f"! holidays: {this_year + 1} is provisional")
    assert "official SKB 3 Menteri dates" in holidays


async def test_doctor_checks_the_reference_data(
    good_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "city.toml"
    broken.write_text(
        '[[agency]]\ncode = "pupr"\nname = "Dinas PUPR"\nshort_name = "PUPR"\n\n'
        '[[category]]\ncode = "roads"\nname_id = "Jalan"\nname_en = "Roads"\nagency = "dishub"\n',
        encoding="utf-8",
    )
    assert await run_doctor(good_settings.model_copy(update={"reference_data": broken})) == 1
    reference = line_of(capsys.readouterr().out, "reference data")
    assert reference.startswith("✘ reference data:") and "unknown agency" in reference
    assert reference.endswith(f"— fix: correct {broken}")


async def call_emulator(emulator: Emulator, method: str, **params: Any) -> None:
    """Call a Bot API method on the emulator, as a bot (or another deployment) would."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{emulator.api_url}/{method}", json=params) as response,
    ):
        assert response.status == 200, await response.text()


async def test_doctor_in_polling_mode_warns_of_a_set_webhook(
    good_settings: Settings, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    await call_emulator(emulator, "setWebhook", url=PUBLIC_WEBHOOK)
    assert await run_doctor(good_settings) == 0
    webhook = line_of(capsys.readouterr().out, "webhook")
    assert webhook.startswith(f"! webhook: a webhook is set ({PUBLIC_WEBHOOK})")
    assert "polling needs it removed" in webhook and "`aduan run` removes it" in webhook


async def test_doctor_in_webhook_mode_compares_the_url(
    good_settings: Settings, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = good_settings.model_copy(
        update={
            "bot_mode": BotMode.WEBHOOK,
            "webhook_url": PUBLIC_WEBHOOK,
            "webhook_secret": SECRET,
        }
    )
    assert await run_doctor(settings) == 0
    assert line_of(capsys.readouterr().out, "webhook").startswith("! webhook: not set yet")

    await call_emulator(emulator, "setWebhook", url="https://other.example.org/hook")
    assert await run_doctor(settings) == 1
    webhook = line_of(capsys.readouterr().out, "webhook")
    assert webhook.startswith("✘ webhook: Telegram posts to https://other.example.org/hook, not")
    assert "fix: restart `aduan run`" in webhook

    await call_emulator(emulator, "setWebhook", url=PUBLIC_WEBHOOK)
    emulator.world.webhook_last_error_message = "Connection refused"
    emulator.world.webhook_last_error_date = int(datetime.now(UTC).timestamp())
    assert await run_doctor(settings) == 0
    webhook = line_of(capsys.readouterr().out, "webhook")
    assert webhook.startswith(f"! webhook: {PUBLIC_WEBHOOK}, 0 pending update(s)")
    assert "last error: Connection refused" in webhook


async def test_doctor_without_a_token_skips_telegram(
    good_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_doctor(good_settings.model_copy(update={"telegram_bot_token": ""})) == 0
    output = capsys.readouterr().out
    for check in ("token", "webhook"):
        assert line_of(output, check).startswith(
            f"! {check}: skipped: no TELEGRAM_BOT_TOKEN (the sandbox needs none)"
        )


async def test_doctor_reports_each_invalid_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("TIMEZONE", "Nowhere/City")
    monkeypatch.setenv("TRACKING_PREFIX", "tpi")
    assert await run_doctor() == 1
    settings = [line for line in lines(capsys.readouterr().out) if "settings:" in line]
    assert len(settings) == 2
    assert any("TIMEZONE" in line and "unknown timezone" in line for line in settings)
    assert any("TRACKING_PREFIX" in line for line in settings)
    assert all(line.startswith("✘ settings:") and "— fix:" in line for line in settings)


@pytest.mark.skipif("workers" not in Settings.model_fields, reason="WORKERS is not a setting yet")
async def test_doctor_fails_several_workers_on_sqlite(
    good_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = good_settings.model_copy(
        update={
            "workers": 2,
            "bot_mode": BotMode.WEBHOOK,
            "webhook_url": PUBLIC_WEBHOOK,
            "webhook_secret": SECRET,
        }
    )
    assert await run_doctor(settings) == 1
    assert "several workers need PostgreSQL" in line_of(capsys.readouterr().out, "settings")


# ========================================================================== aduan backup
NOW = datetime(2026, 12, 1, 20, 15, 30, tzinfo=UTC)


async def test_sqlite_backup_is_online_and_checked(
    good_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live = Path(make_url(good_settings.database_url).database or "")
    with sqlite3.connect(live) as writer:
        # The bot is in the middle of a write: the backup neither waits for it nor copies it.
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE agency SET name = 'uncommitted'")
        assert await run_backup(good_settings, tmp_path / "backups", now=NOW) == 0
        writer.rollback()
    writer.close()
    copy = tmp_path / "backups" / "aduan-20261201-201530.db"
    output = capsys.readouterr().out
    assert f"Backup written: {copy} (" in output and "integrity check ok" in output
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]  # no -wal, no .partial
    with sqlite3.connect(copy) as restored:
        assert restored.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        names = {name for (name,) in restored.execute("SELECT name FROM agency")}
        assert len(names) == 11 and "uncommitted" not in names
        assert restored.execute("SELECT version_num FROM alembic_version").fetchone() == ("0007",)
    restored.close()

    assert await run_backup(good_settings, tmp_path / "backups", now=NOW) == 0
    assert (tmp_path / "backups" / "aduan-20261201-201530-2.db").is_file()


async def test_sqlite_backup_defaults_to_data_backups(
    good_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert await run_backup(good_settings, None, now=NOW) == 0
    assert (tmp_path / "data" / "backups" / "aduan-20261201-201530.db").is_file()


async def test_backup_of_a_missing_sqlite_file_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path, database_url=f"sqlite:///{tmp_path / 'none.db'}")
    assert await run_backup(settings, tmp_path / "backups") == 1
    assert "nothing to back up" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_the_libpq_url_has_no_driver_and_no_password() -> None:
    url = make_url("postgresql+asyncpg://aduan:s3cret@db.internal:5433/aduan?ssl=require")
    assert libpq_url(url) == ("postgresql://aduan@db.internal:5433/aduan?sslmode=require", "s3cret")


async def test_without_pg_dump_the_command_is_printed_with_the_password_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(backup_module.shutil, "which", lambda _name: None)
    settings = make_settings(tmp_path, database_url="postgresql://aduan:s3cret@db:5432/aduan")
    assert await run_backup(settings, tmp_path / "dumps", now=NOW) == 1
    output = capsys.readouterr().out
    assert "pg_dump is not installed" in output
    command = f"PGPASSWORD=*** pg_dump --format=custom --file={tmp_path}/dumps/"
    assert command + "aduan-20261201-201530.dump 'postgresql://aduan@db:5432/aduan'" in output
    assert "s3cret" not in output and "asyncpg" not in output


@pytest.fixture
async def postgres_database() -> AsyncIterator[str]:
    """A throw-away database on the test server (pg_dump dumps whole databases)."""
    server = make_url(POSTGRES_URL)
    dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(dsn, timeout=3)
    except (OSError, asyncpg.PostgresError) as error:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {error}")
    name = f"aduan_backup_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.mark.postgres
@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
async def test_postgres_backup_runs_pg_dump(
    postgres_database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path, database_url=postgres_database, telegram_bot_token="")
    engine = create_engine(settings.database_url)
    try:
        await prepare_database(settings, engine)
    finally:
        await engine.dispose()
    assert await run_doctor(settings) == 0
    assert line_of(capsys.readouterr().out, "database").startswith("✔ database: PostgreSQL 1")

    assert await run_backup(settings, tmp_path / "dumps", now=NOW) == 0
    dump = tmp_path / "dumps" / "aduan-20261201-201530.dump"
    assert dump.read_bytes()[:5] == b"PGDMP"
    output = capsys.readouterr().out
    assert f"Backup written: {dump} (" in output and "entries listed by pg_restore" in output
    if shutil.which("pg_restore"):
        listing = await asyncio.to_thread(
            subprocess.run,
            ["pg_restore", "--list", str(dump)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "TABLE public complaint " in listing.stdout
        assert "TABLE DATA public agency " in listing.stdout
