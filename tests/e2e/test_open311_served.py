"""The Open311 API and the public page on the running bot's own HTTP server (both runtimes),
photos fetched from the fake Bot API with the bot's own client; ``OPEN_DATA=false`` serves
none of it."""

from __future__ import annotations

import aiohttp

from bot.app import ConnectedApp
from bot.sandbox.emulator import Emulator
from bot.settings import Settings
from storage.models import Attachment
from tests.support.live_bot import running_connected
from tests.support.open_data import seed_open_data

PHOTO = b"\xff\xd8\xff\xe0 served through the bot's client \xff\xd9"


def _base(bot: ConnectedApp) -> str:
    address = bot.runtime.http_address
    assert address is not None, "the HTTP server did not start"
    return f"http://{address[0]}:{address[1]}"


async def test_the_running_bot_serves_open311_and_its_photos(
    live_settings: Settings, emulator: Emulator
) -> None:
    async with running_connected(live_settings) as bot:
        async with bot.app.sessions() as session:
            data = await seed_open_data(session)
            attachment = await session.get(Attachment, data.photos["public_new"][0])
            assert attachment is not None
            attachment.file_id = emulator.world.files.add("photo", PHOTO).file_id
            session.add(attachment)
            await session.commit()
        base = f"{_base(bot)}/open311/v2"
        code = data.codes["public_new"]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/requests/{code}.json") as response:
                assert response.status == 200
                [report] = await response.json()
            assert report["media_url"] == f"{base}/media/{code}-1.jpg"
            async with http.get(report["media_url"]) as response:
                assert response.status == 200 and await response.read() == PHOTO
            async with http.get(f"{base}/services.xml") as response:
                assert response.status == 200 and b"<services>" in await response.read()
            # The public page on the same server finds the report by its code.
            async with http.get(f"{_base(bot)}/public/search", params={"code": code}) as response:
                assert response.status == 200 and code in await response.text()


async def test_open_data_off_serves_no_api(live_settings: Settings) -> None:
    settings = live_settings.model_copy(update={"open_data": False})
    async with running_connected(settings) as bot, aiohttp.ClientSession() as http:
        async with http.get(f"{_base(bot)}/open311/v2/services.json") as response:
            assert response.status == 404
        async with http.get(f"{_base(bot)}/public/") as response:
            assert response.status == 404
        async with http.get(f"{_base(bot)}/healthz") as response:
            assert response.status == 200
