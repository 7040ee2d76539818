"""Issue 13: what operators see, on both runtimes against the emulator.

- Polling mode serves ``/healthz``, ``/readyz`` and ``/metrics`` on ``HTTP_LISTEN``; the metrics
  parse as Prometheus text and move when a citizen files a report.
- ``/readyz`` answers 503 naming ``database`` while PostgreSQL is down (a throwaway cluster of
  tests/integration/test_database_outage.py), and 200 again once it is back.
- Webhook mode serves the webhook path and ``/healthz`` on the same port.
- ``LOG_FORMAT=json``: every line of an ``aduan run`` parses as JSON, each update has its line
  with the documented fields, and no line holds personal data or a raw id.
- Settings: ``HTTP_LISTEN`` wins over the old ``WEBHOOK_LISTEN``; ``off`` is polling only; a
  taken address does not stop a polling bot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError

from bot.app import ConnectedApp
from bot.sandbox.emulator import Emulator
from bot.settings import Settings
from tests.conftest import TEST_TOKEN, make_settings
from tests.integration import test_database_outage as outage
from tests.support.live_bot import TelegramChat, running_connected
from tests.support.log_capture import captured_logs
from tests.support.webhooks import free_port, webhook_mode

# The throwaway PostgreSQL cluster (initdb in a temporary folder, on a free port).
cluster_folder = outage.cluster_folder
cluster = outage.cluster

CITIZEN = 7710012345
FIRST, LAST, USERNAME, PHONE = "Sulastri", "Wulandari", "sulastri_wln", "+6281298765432"
DESCRIPTION = "Saluran air tersumbat di depan rumah Ibu Sulastri, Gang Kenanga nomor 17, bau."
ADDRESS = "Gang Kenanga No. 17, Tanjungpinang"
CODE = re.compile(r"TPI-\d{4}-\d{6}")
UPDATE_FIELDS = {"update_id", "kind", "chat", "flow", "step", "code", "outcome", "latency_ms"}


async def _get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.text()


def _base(bot: ConnectedApp) -> str:
    address = bot.runtime.http_address
    assert address is not None, "the HTTP server did not start"
    return f"http://{address[0]}:{address[1]}"


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics page by (name, labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _updates_total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return sum(value for (name, _), value in samples.items() if name == "aduan_updates_total")


async def _file_report(emulator: Emulator, chat: TelegramChat) -> str:
    """The whole intake flow; the tracking code of the receipt."""
    await chat.say("/new", "Langkah 1 dari 6")
    await chat.press("Pengaduan", "Langkah 2 dari 6")
    await chat.press("Jalan", "Langkah 3 dari 6")
    await chat.say(DESCRIPTION, "Langkah 4 dari 6")
    await chat.say(ADDRESS, "Langkah 5 dari 6")
    await chat.act(lambda: emulator.send_contact(chat.user_id), "kontak")
    await chat.say("sudah", "Kirim foto")
    await chat.press("Lewati", "Langkah 6 dari 6")
    await chat.press("Biasa", "Periksa kembali")
    done = await chat.press("Kirim laporan", "Kode pelacakan")
    code = CODE.search(done["text"])
    assert code
    return code.group(0)


def _citizen(emulator: Emulator) -> TelegramChat:
    emulator.add_user(
        CITIZEN, FIRST, last_name=LAST, username=USERNAME, phone_number=PHONE, language_code="id"
    )
    return TelegramChat(emulator, CITIZEN)


async def test_polling_serves_health_readiness_and_metrics(
    emulator: Emulator, live_settings: Settings
) -> None:
    citizen = _citizen(emulator)
    async with running_connected(live_settings) as bot:
        base = _base(bot)
        status, body = await _get(f"{base}/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})

        status, body = await _get(f"{base}/readyz")
        assert status == 200, body
        assert json.loads(body) == {
            "status": "ready",
            "checks": {"database": "ok", "scheduler": "ok", "outbox": "ok", "runtime": "ok"},
        }

        status, body = await _get(f"{base}/metrics")
        assert status == 200
        before = _samples(body)
        assert before[("aduan_reports", (("status", "submitted"),))] == 0
        assert before[("aduan_database_up", ())] == 1

        code = await _file_report(emulator, citizen)

        status, body = await _get(f"{base}/metrics")
        after = _samples(body)
        assert _updates_total(after) >= _updates_total(before) + 10  # one per step at least
        ok_callbacks = (("kind", "callback"), ("outcome", "ok"))
        assert after[("aduan_updates_total", ok_callbacks)] >= 5
        assert after[("aduan_update_processing_seconds_count", ())] >= 10
        assert after[("aduan_reports", (("status", "submitted"),))] == 1
        assert after[("aduan_reports_overdue", (("status", "submitted"),))] == 0
        assert after[("aduan_job_runs_total", (("job", "outbox"),))] >= 1
        # Nothing personal in the metrics (rule 11): no id, name or tracking code.
        for value in (str(CITIZEN), FIRST, USERNAME, code):
            assert value not in body


async def test_readyz_names_the_database_while_postgresql_is_down(
    emulator: Emulator, live_settings: Settings, cluster: outage.Cluster
) -> None:
    settings = live_settings.model_copy(
        update={"database_url": cluster.url, "outbox_interval_seconds": 0.2}
    )
    async with running_connected(settings) as bot:
        base = _base(bot)
        status, body = await _get(f"{base}/readyz")
        assert status == 200, body

        cluster.stop()
        status, body = await _get(f"{base}/readyz")
        assert status == 503
        checks = json.loads(body)["checks"]
        assert json.loads(body)["status"] == "unready"
        assert checks["database"] != "ok"
        assert checks["outbox"] == "unknown (database unavailable)"
        assert (checks["scheduler"], checks["runtime"]) == ("ok", "ok")
        assert (await _get(f"{base}/healthz"))[0] == 200  # alive all the same
        status, body = await _get(f"{base}/metrics")
        assert status == 200
        samples = _samples(body)
        assert samples[("aduan_database_up", ())] == 0
        assert samples[("aduan_database_errors_total", (("source", "readyz"),))] >= 1

        cluster.start()
        for _ in range(100):  # the pool's connections died with the server: new ones
            status, body = await _get(f"{base}/readyz")
            if status == 200:
                break
            await asyncio.sleep(0.1)
        assert status == 200, body


async def test_webhook_mode_serves_the_webhook_and_health_on_one_port(
    emulator: Emulator, live_settings: Settings
) -> None:
    settings = webhook_mode(live_settings)
    citizen = _citizen(emulator)
    async with running_connected(settings) as bot:
        base = _base(bot)
        assert base == settings.webhook_url.removesuffix("/telegram/hook")
        assert (await _get(f"{base}/healthz"))[0] == 200
        status, body = await _get(f"{base}/readyz")
        assert status == 200, body
        await citizen.say("/new", "Langkah 1 dari 6")
        delivered = lambda: [d.status for d in emulator.webhook_deliveries] == [200]  # noqa: E731
        await emulator.wait_until(delivered, 5, what="the update through the webhook")
        async with (
            aiohttp.ClientSession() as http,
            http.post(settings.webhook_url, json={"update_id": 1}) as response,
        ):
            assert response.status == 401  # the webhook path, checking its secret
        status, body = await _get(f"{base}/metrics")
        assert _updates_total(_samples(body)) >= 1


@pytest.fixture
async def bot_process(
    emulator: Emulator, live_settings: Settings, tmp_path: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, Path]]:
    """``python -m bot run`` with LOG_FORMAT=json, its stderr in a file."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    env.update(
        TELEGRAM_BOT_TOKEN=TEST_TOKEN,
        TELEGRAM_API_URL=live_settings.telegram_api_url,
        RUNTIME=live_settings.runtime.value,
        DATABASE_URL=live_settings.database_url,
        BOT_MODE="polling",
        QUIET_HOURS="",
        ALBUM_WAIT_SECONDS="0.3",
        OUTBOX_INTERVAL_SECONDS="0.2",
        HTTP_LISTEN=f"127.0.0.1:{free_port()}",
        LOG_FORMAT="json",
    )
    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env, stdout=out, stderr=out
        )
    try:
        yield process, log
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_json_logs_one_object_per_line_one_line_per_update_no_personal_data(
    emulator: Emulator, bot_process: tuple[asyncio.subprocess.Process, Path]
) -> None:
    process, log = bot_process
    citizen = _citizen(emulator)
    await emulator.wait_until(lambda: emulator.polling, 20, what="the bot polling")
    code = await _file_report(emulator, citizen)
    await emulator.wait_idle(timeout=15)
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 30) == 0

    lines = log.read_text().splitlines()
    assert lines, "the bot wrote nothing"
    entries = []
    for line in lines:
        try:
            entries.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)

    updates = [e for e in entries if e["logger"] == "aduan.updates"]
    assert len(updates) >= 10
    assert all(set(e) >= UPDATE_FIELDS and e["level"] == "INFO" for e in updates)
    assert {e["outcome"] for e in updates} == {"ok"}
    assert {e["kind"] for e in updates} >= {"command", "message", "callback"}
    assert all(re.fullmatch(r"chat#[0-9a-f]{10}", e["chat"]) for e in updates)
    assert all(isinstance(e["latency_ms"], int | float) for e in updates)
    assert any(e["flow"] == "intake" for e in updates)
    assert [e["code"] for e in updates if e["code"]] == [code]  # the receipt names it

    text = "\n".join(lines)
    for what, value in {
        "token": TEST_TOKEN.split(":", 1)[1],
        "first name": FIRST,
        "last name": LAST,
        "username": USERNAME,
        "phone": PHONE.lstrip("+"),
        "description": DESCRIPTION[:30],
        "address": ADDRESS[:15],
        "citizen id": str(CITIZEN),
    }.items():
        assert value not in text, f"the {what} is in the log"


# ============================================================================ settings
def test_http_listen_wins_over_the_old_name_and_can_be_off(tmp_path: Path) -> None:
    assert make_settings(tmp_path).http_address == ("127.0.0.1", 8080)
    old = make_settings(tmp_path, webhook_listen="0.0.0.0:9000")
    assert old.http_address == ("0.0.0.0", 9000) and old.listen_from_old_name
    both = make_settings(tmp_path, webhook_listen="0.0.0.0:9000", http_listen="[::1]:9100")
    assert both.http_address == ("::1", 9100) and not both.listen_from_old_name
    assert make_settings(tmp_path, http_listen="off").http_address is None
    assert make_settings(tmp_path, http_listen="").http_address is None
    with pytest.raises(ValidationError, match="no listen address"):
        make_settings(tmp_path, http_listen="8080")
    with pytest.raises(ValidationError, match="needs HTTP_LISTEN"):
        make_settings(
            tmp_path,
            bot_mode="webhook",
            webhook_url="https://x.example/hook",
            webhook_secret="s" * 20,
            http_listen="off",
        )


async def test_a_taken_address_does_not_stop_a_polling_bot(
    emulator: Emulator, live_settings: Settings
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = live_settings.model_copy(update={"http_listen": f"127.0.0.1:{port}"})
        citizen = _citizen(emulator)
        with captured_logs() as logs:
            async with running_connected(settings) as bot:
                assert bot.runtime.http_address is None
                await citizen.say("/new", "Langkah 1 dari 6")
    assert any(
        r.levelno == logging.ERROR
        and f"HTTP_LISTEN 127.0.0.1:{port} cannot be used" in r.getMessage()
        for r in logs.records
    )
