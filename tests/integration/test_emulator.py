"""The Bot API emulator over real HTTP, with aiohttp as the client (no bot framework)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.sandbox.emulator import UPLOAD_LIMIT_BYTES, Emulator

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """A running emulator."""
    async with Emulator() as emulator:
        yield emulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client session."""
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    http: aiohttp.ClientSession, emu: Emulator, method: str, **params: Any
) -> tuple[int, dict[str, Any]]:
    """POST a method with a JSON body; return (status, body)."""
    async with http.post(f"{emu.api_url}/{method}", json=params) as response:
        return response.status, await response.json()


async def ok(http: aiohttp.ClientSession, emu: Emulator, method: str, **params: Any) -> Any:
    """POST a method that must succeed; return its result."""
    status, body = await call(http, emu, method, **params)
    assert status == 200 and body["ok"], body
    return body["result"]


async def bad(
    http: aiohttp.ClientSession, emu: Emulator, method: str, **params: Any
) -> tuple[int, str]:
    """POST a method that must fail; return (error_code, description)."""
    status, body = await call(http, emu, method, **params)
    assert not body["ok"], body
    assert status == body["error_code"]
    return body["error_code"], body["description"]


INLINE = {"inline_keyboard": [[{"text": "Ya", "callback_data": "yes"}]]}


# ---------------------------------------------------------------- basics
async def test_get_me(emu: Emulator, http: aiohttp.ClientSession) -> None:
    me = await ok(http, emu, "getMe")
    assert me["id"] == 123456 and me["is_bot"] is True
    assert me["username"] == "aduan_test_bot"
    async with http.get(f"{emu.api_url}/GETME") as response:  # case-insensitive names
        assert (await response.json())["ok"] is True


async def test_wrong_token_and_unknown_method(emu: Emulator, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{emu.base_url}/bot999:WRONG/getMe") as response:
        assert response.status == 401
        assert await response.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }
    assert await bad(http, emu, "sendTelepathy") == (404, "Not Found")


async def test_send_message_json_form_and_multipart(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    user = emu.add_user(1001, "Siti")
    sent = await ok(http, emu, "sendMessage", chat_id=user.id, text="json", reply_markup=INLINE)
    assert sent["from"]["id"] == 123456 and sent["chat"]["id"] == user.id
    assert sent["reply_markup"] == INLINE

    form = {"chat_id": str(user.id), "text": "form", "reply_markup": json.dumps(INLINE)}
    async with http.post(f"{emu.api_url}/sendMessage", data=form) as response:
        body = await response.json()
    assert body["ok"] and body["result"]["reply_markup"] == INLINE

    multipart = aiohttp.FormData()
    multipart.add_field("chat_id", str(user.id))
    multipart.add_field("text", "multipart")
    multipart.add_field("reply_markup", json.dumps({"remove_keyboard": True}))
    async with http.post(f"{emu.api_url}/sendMessage", data=multipart) as response:
        body = await response.json()
    assert body["ok"] and "reply_markup" not in body["result"]  # only inline markup is echoed

    assert [m["text"] for m in emu.messages(user.id)] == ["json", "form", "multipart"]
    ids = [m["message_id"] for m in emu.messages(user.id)]
    assert ids == sorted(ids) and len(set(ids)) == 3


async def test_an_upload_over_50_mb_is_refused_like_telegram_does(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    user = emu.add_user(1001, "Siti")

    async def send_document(size: int) -> tuple[int, dict[str, Any]]:
        multipart = aiohttp.FormData()
        multipart.add_field("chat_id", str(user.id))
        multipart.add_field("document", io.BytesIO(b"x" * size), filename="aduan-2026.xlsx")
        async with http.post(f"{emu.api_url}/sendDocument", data=multipart) as response:
            return response.status, await response.json()

    status, body = await send_document(UPLOAD_LIMIT_BYTES + 1)
    assert status == 413 and body == {
        "ok": False,
        "error_code": 413,
        "description": "Request Entity Too Large",
    }
    status, body = await send_document(1_000_000)
    assert status == 200 and body["result"]["document"]["file_name"] == "aduan-2026.xlsx"


# ------------------------------------------------------------ HTML and limits
async def test_html_nested_tags_are_parsed(emu: Emulator, http: aiohttp.ClientSession) -> None:
    user = emu.add_user(1002, "Budi")
    html = (
        '<b>Laporan <i>baru</i></b> <a href="https://lapor.go.id/x?a=1&amp;b=2">link</a> '
        '<pre><code class="language-python">x = 1</code></pre> <tg-spoiler>rahasia</tg-spoiler> '
        '<span class="tg-spoiler">s</span> <blockquote expandable>kutipan</blockquote> '
        "&lt;tag&gt; &amp; &quot;q&quot; &#39;&#x1F600;"
    )
    sent = await ok(http, emu, "sendMessage", chat_id=user.id, text=html, parse_mode="HTML")
    assert sent["text"].startswith('Laporan baru link x = 1 rahasia s kutipan <tag> & "q" \'')
    types = [e["type"] for e in sent["entities"]]
    assert types == [
        "bold",
        "italic",
        "text_link",
        "pre",
        "spoiler",
        "spoiler",
        "expandable_blockquote",
    ]
    assert sent["entities"][1] == {"type": "italic", "offset": 8, "length": 4}
    assert sent["entities"][2]["url"] == "https://lapor.go.id/x?a=1&b=2"
    assert sent["entities"][3]["language"] == "python"


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("hi <foo>x</foo>", 'Unsupported start tag "foo" at byte offset 3'),
        ("<b>tebal", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("AT&T", 'Character "&" must be escaped as "&amp;" at byte offset 2'),
        ("a &nbsp; b", 'Character "&" must be escaped'),
        ("2 > 1", 'Character ">" must be escaped'),
        ('<span class="x">y</span>', 'Tag "span" must have class "tg-spoiler"'),
    ],
)
async def test_malformed_html_is_rejected(
    emu: Emulator, http: aiohttp.ClientSession, text: str, detail: str
) -> None:
    user = emu.add_user(1003, "Citra")
    code, description = await bad(
        http, emu, "sendMessage", chat_id=user.id, text=text, parse_mode="HTML"
    )
    assert code == 400
    assert description.startswith("Bad Request: can't parse entities: ")
    assert detail in description
    # Without parse_mode the same text is taken literally.
    assert (await ok(http, emu, "sendMessage", chat_id=user.id, text=text))["text"] == text


async def test_length_limits_count_parsed_text(emu: Emulator, http: aiohttp.ClientSession) -> None:
    user = emu.add_user(1004, "Dewi")
    chat = user.id
    await ok(http, emu, "sendMessage", chat_id=chat, text="a" * 4096)
    await ok(http, emu, "sendMessage", chat_id=chat, text=f"<b>{'a' * 4096}</b>", parse_mode="HTML")
    await ok(http, emu, "sendMessage", chat_id=chat, text="&amp;" * 4096, parse_mode="HTML")
    assert await bad(http, emu, "sendMessage", chat_id=chat, text="a" * 4097) == (
        400,
        "Bad Request: message is too long",
    )
    assert await bad(http, emu, "sendMessage", chat_id=chat, text="") == (
        400,
        "Bad Request: message text is empty",
    )
    assert await bad(
        http, emu, "sendMessage", chat_id=chat, text="<b> </b>", parse_mode="HTML"
    ) == (
        400,
        "Bad Request: message text is empty",
    )
    photo = "https://example.org/p.jpg"
    await ok(
        http,
        emu,
        "sendPhoto",
        chat_id=chat,
        photo=photo,
        caption=f"<i>{'c' * 1024}</i>",
        parse_mode="HTML",
    )
    assert await bad(http, emu, "sendPhoto", chat_id=chat, photo=photo, caption="c" * 1025) == (
        400,
        "Bad Request: message caption is too long",
    )


async def test_callback_data_is_limited_to_64_bytes(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    user = emu.add_user(1005, "Eka")

    def keyboard(data: str) -> dict[str, Any]:
        return {"inline_keyboard": [[{"text": "x", "callback_data": data}]]}

    assert len(("é" * 32).encode()) == 64
    await ok(http, emu, "sendMessage", chat_id=user.id, text="ok", reply_markup=keyboard("é" * 32))
    assert await bad(
        http, emu, "sendMessage", chat_id=user.id, text="no", reply_markup=keyboard("é" * 32 + "a")
    ) == (400, "Bad Request: BUTTON_DATA_INVALID")
    _, description = await bad(
        http,
        emu,
        "sendMessage",
        chat_id=user.id,
        text="no",
        reply_markup={"inline_keyboard": [[{"text": "plain"}]]},
    )
    assert "Text buttons are unallowed in the inline keyboard" in description
    _, description = await bad(
        http,
        emu,
        "sendMessage",
        chat_id=user.id,
        text="no",
        reply_markup={"inline_keyboard": [[{"text": "u", "url": "lapor"}]]},
    )
    assert "URL" in description


# ------------------------------------------------------------------ updates
async def test_long_polling_wakes_on_user_message_and_honours_offset(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    user = emu.add_user(1006, "Fajar", username="fajar")
    poll = asyncio.create_task(ok(http, emu, "getUpdates", timeout=8))
    await emu.wait_until(lambda: emu.polling, 2.0)  # the long poll is waiting
    started = time.monotonic()
    sent = emu.send_text(user, "/start@aduan_test_bot halo")
    updates = await asyncio.wait_for(poll, 2.0)
    assert time.monotonic() - started < 1.0
    assert updates == [sent]
    message = updates[0]["message"]
    assert message["text"] == "/start@aduan_test_bot halo"
    assert message["entities"] == [{"offset": 0, "length": 21, "type": "bot_command"}]
    assert message["from"]["username"] == "fajar" and message["chat"]["type"] == "private"

    second = emu.send_text(user, "kedua")
    again = await ok(http, emu, "getUpdates", offset=sent["update_id"], timeout=0)
    assert [u["update_id"] for u in again] == [sent["update_id"], second["update_id"]]
    confirmed = await ok(http, emu, "getUpdates", offset=second["update_id"] + 1, timeout=0)
    assert confirmed == []
    await emu.wait_idle(1.0)


async def test_webhook_delivery_secret_conflict_and_failures(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    received: asyncio.Queue[tuple[str | None, dict[str, Any]]] = asyncio.Queue()

    async def accept(request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        await received.put((secret, await request.json()))
        return web.json_response({})

    async def reject(request: web.Request) -> web.Response:
        return web.Response(status=401, text="wrong secret")

    app = web.Application()
    app.router.add_post("/hook", accept)
    app.router.add_post("/reject", reject)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        user = emu.add_user(1007, "Gita")
        url = f"http://127.0.0.1:{port}/hook"
        status, body = await call(http, emu, "setWebhook", url=url, secret_token="s3cret-TOKEN")
        assert status == 200 and body == {
            "ok": True,
            "result": True,
            "description": "Webhook was set",
        }

        sent = emu.send_text(user, "halo")
        secret, update = await asyncio.wait_for(received.get(), 2.0)
        assert secret == "s3cret-TOKEN" and update == sent

        code, description = await bad(http, emu, "getUpdates")
        assert code == 409
        assert description == (
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first"
        )
        await emu.wait_idle(2.0)
        info = await ok(http, emu, "getWebhookInfo")
        assert info["url"] == url and info["pending_update_count"] == 0

        await ok(http, emu, "setWebhook", url=f"http://127.0.0.1:{port}/reject")
        failing = emu.send_text(user, "ditolak")
        attempts = emu.webhook_max_attempts
        await emu.wait_until(
            lambda: (
                len([d for d in emu.webhook_deliveries if d.update_id == failing["update_id"]])
                == attempts
            ),
            3.0,
        )
        tries = [d for d in emu.webhook_deliveries if d.update_id == failing["update_id"]]
        assert [d.status for d in tries] == [401] * attempts and not any(d.ok for d in tries)
        await emu.wait_idle(2.0)  # dropped after the bounded retries
        info = await ok(http, emu, "getWebhookInfo")
        assert "401" in info["last_error_message"]

        result = await call(http, emu, "deleteWebhook")
        assert result[1]["description"] == "Webhook was deleted"
        assert await ok(http, emu, "getUpdates") == []
    finally:
        await runner.cleanup()


# ------------------------------------------------------------ faults, limits
async def test_fail_next_injects_429_and_5xx(emu: Emulator, http: aiohttp.ClientSession) -> None:
    user = emu.add_user(1008, "Hadi")
    emu.fail_next(retry_after=7)
    status, body = await call(http, emu, "sendMessage", chat_id=user.id, text="x")
    assert status == 429
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    await ok(http, emu, "sendMessage", chat_id=user.id, text="x")

    emu.fail_next(status=500, count=2)
    await ok(http, emu, "getMe")  # getMe/getUpdates are only failed when named
    for _ in range(2):
        assert await bad(http, emu, "sendPhoto", chat_id=user.id, photo="https://e.x/a.jpg") == (
            500,
            "Internal Server Error",
        )
    await ok(http, emu, "sendMessage", chat_id=user.id, text="y")

    emu.fail_next("getUpdates", status=502)
    assert await bad(http, emu, "getUpdates") == (502, "Bad Gateway")
    assert emu.stats.injected_faults == 4 and emu.stats.too_many_requests == 1


async def test_rate_limit_answers_429(emu: Emulator, http: aiohttp.ClientSession) -> None:
    user = emu.add_user(1009, "Indah")
    emu.rate_limit_per_second = 3
    for i in range(3):
        await ok(http, emu, "sendMessage", chat_id=user.id, text=f"m{i}")
    status, body = await call(http, emu, "sendMessage", chat_id=user.id, text="over")
    assert status == 429 and body["parameters"]["retry_after"] >= 1
    await ok(http, emu, "getChat", chat_id=user.id)  # not a sending method
    assert emu.stats.too_many_requests == 1
    assert emu.stats.calls["sendMessage"] == 4


async def test_blocked_user_and_unknown_chat(emu: Emulator, http: aiohttp.ClientSession) -> None:
    user = emu.add_user(1010, "Joko")
    emu.block(user.id)
    assert await bad(http, emu, "sendMessage", chat_id=user.id, text="x") == (
        403,
        "Forbidden: bot was blocked by the user",
    )
    update = emu.pending_updates[-1]
    assert update["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    emu.unblock(user.id)
    await ok(http, emu, "sendMessage", chat_id=user.id, text="x")
    assert await bad(http, emu, "sendMessage", chat_id=424242, text="x") == (
        400,
        "Bad Request: chat not found",
    )


# -------------------------------------------------------------------- media
async def test_media_group_limits(emu: Emulator, http: aiohttp.ClientSession) -> None:
    user = emu.add_user(1011, "Kartika")
    photo = {"type": "photo", "media": "https://example.org/1.jpg"}
    code, _ = await bad(http, emu, "sendMediaGroup", chat_id=user.id, media=[photo])
    assert code == 400
    code, _ = await bad(http, emu, "sendMediaGroup", chat_id=user.id, media=[photo] * 11)
    assert code == 400
    document = {"type": "document", "media": "https://example.org/a.pdf"}
    code, _ = await bad(http, emu, "sendMediaGroup", chat_id=user.id, media=[photo, document])
    assert code == 400

    form = aiohttp.FormData()
    form.add_field("chat_id", str(user.id))
    media = [
        {
            "type": "photo",
            "media": "attach://one",
            "caption": "<b>dua</b> foto",
            "parse_mode": "HTML",
        },
        {"type": "video", "media": "attach://two"},
    ]
    form.add_field("media", json.dumps(media))
    form.add_field("one", b"jpeg-bytes", filename="one.jpg", content_type="image/jpeg")
    form.add_field("two", b"mp4-bytes", filename="two.mp4", content_type="video/mp4")
    async with http.post(f"{emu.api_url}/sendMediaGroup", data=form) as response:
        body = await response.json()
    assert body["ok"], body
    first, second = body["result"]
    assert first["media_group_id"] == second["media_group_id"]
    assert first["caption"] == "dua foto" and first["caption_entities"][0]["type"] == "bold"
    assert "caption" not in second and second["video"]["mime_type"] == "video/mp4"
    assert [m["media_type"] for m in emu.messages(user.id)] == ["photo", "video"]


async def test_file_round_trip(emu: Emulator, http: aiohttp.ClientSession) -> None:
    user = emu.add_user(1012, "Lestari")
    update = emu.send_photo(user, caption="jalan rusak", data=b"\xff\xd8photo-bytes")
    sizes = update["message"]["photo"]
    assert len(sizes) == 3 and len({s["file_unique_id"] for s in sizes}) == 3
    file = await ok(http, emu, "getFile", file_id=sizes[-1]["file_id"])
    async with http.get(f"{emu.file_url}/{file['file_path']}") as response:
        assert response.status == 200
        assert await response.read() == b"\xff\xd8photo-bytes"
    async with http.get(f"{emu.file_url}/photos/nothing.jpg") as response:
        assert response.status == 404

    resent = await ok(http, emu, "sendPhoto", chat_id=user.id, photo=sizes[-1]["file_id"])
    assert resent["photo"][-1]["file_id"] == sizes[-1]["file_id"]
    assert await bad(http, emu, "sendPhoto", chat_id=user.id, photo="not-a-file-id") == (
        400,
        "Bad Request: wrong file identifier/HTTP URL specified",
    )

    upload = aiohttp.FormData()
    upload.add_field("chat_id", str(user.id))
    upload.add_field("document", b"%PDF-1.4 laporan", filename="laporan.pdf")
    async with http.post(f"{emu.api_url}/sendDocument", data=upload) as response:
        document = (await response.json())["result"]["document"]
    assert document["file_name"] == "laporan.pdf"
    file = await ok(http, emu, "getFile", file_id=document["file_id"])
    async with http.get(f"{emu.file_url}/{file['file_path']}") as response:
        assert await response.read() == b"%PDF-1.4 laporan"


# ---------------------------------------------------- edits and callbacks
async def test_edit_message_text_not_modified(emu: Emulator, http: aiohttp.ClientSession) -> None:
    user = emu.add_user(1013, "Made")
    sent = await ok(http, emu, "sendMessage", chat_id=user.id, text="status", reply_markup=INLINE)
    ref = {"chat_id": user.id, "message_id": sent["message_id"]}
    code, description = await bad(
        http, emu, "editMessageText", **ref, text="status", reply_markup=INLINE
    )
    assert code == 400 and description.startswith("Bad Request: message is not modified")
    edited = await ok(http, emu, "editMessageText", **ref, text="status")  # drops the keyboard
    assert "reply_markup" not in edited and "edit_date" in edited
    await ok(http, emu, "editMessageReplyMarkup", **ref, reply_markup=INLINE)
    assert emu.messages(user.id)[-1]["reply_markup"] == INLINE
    assert await bad(http, emu, "editMessageText", chat_id=user.id, message_id=999, text="x") == (
        400,
        "Bad Request: message to edit not found",
    )


async def test_answer_callback_query_only_once(emu: Emulator, http: aiohttp.ClientSession) -> None:
    user = emu.add_user(1014, "Nur")
    sent = await ok(http, emu, "sendMessage", chat_id=user.id, text="Lanjut?", reply_markup=INLINE)
    with pytest.raises(LookupError):
        emu.click(user, sent, "no-such-button")
    update = emu.click(user, sent["message_id"], "yes")
    query_id = update["callback_query"]["id"]
    assert update["callback_query"]["message"]["message_id"] == sent["message_id"]
    assert emu.unanswered_callback_queries() == [query_id]
    await ok(http, emu, "answerCallbackQuery", callback_query_id=query_id, text="Oke")
    assert emu.callback_answer(query_id) is not None
    assert await bad(http, emu, "answerCallbackQuery", callback_query_id=query_id) == (
        400,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    )
    assert emu.unanswered_callback_queries() == []


async def test_reply_keyboard_location_button(emu: Emulator, http: aiohttp.ClientSession) -> None:
    user = emu.add_user(1015, "Oka")
    keyboard = {
        "keyboard": [[{"text": "Kirim lokasi", "request_location": True}], ["Batal"]],
        "resize_keyboard": True,
        "is_persistent": True,
    }
    await ok(http, emu, "sendMessage", chat_id=user.id, text="Lokasi?", reply_markup=keyboard)
    assert emu.reply_keyboard(user.id) == keyboard
    update = emu.press_reply_button(user, "Kirim lokasi", latitude=-7.25, longitude=112.75)
    assert update["message"]["location"] == {"latitude": -7.25, "longitude": 112.75}
    assert emu.press_reply_button(user, "Batal")["message"]["text"] == "Batal"
    with pytest.raises(LookupError):
        emu.press_reply_button(user, "Tidak ada")
    await ok(
        http,
        emu,
        "sendMessage",
        chat_id=user.id,
        text="Selesai",
        reply_markup={"remove_keyboard": True},
    )
    assert emu.reply_keyboard(user.id) is None


async def test_commands_per_scope_and_language(emu: Emulator, http: aiohttp.ClientSession) -> None:
    commands = [{"command": "lapor", "description": "Buat laporan"}]
    await ok(http, emu, "setMyCommands", commands=commands)
    await ok(
        http,
        emu,
        "setMyCommands",
        commands=[{"command": "report", "description": "New report"}],
        language_code="en",
        scope={"type": "all_private_chats"},
    )
    assert emu.commands() == commands
    assert await ok(http, emu, "getMyCommands") == commands
    assert emu.commands("en", {"type": "all_private_chats"})[0]["command"] == "report"
    assert await ok(http, emu, "getMyCommands", language_code="en") == []
    assert await bad(
        http, emu, "setMyCommands", commands=[{"command": "Lapor", "description": "x"}]
    ) == (400, "Bad Request: BOT_COMMAND_INVALID")
    await ok(http, emu, "deleteMyCommands")
    assert emu.commands() == []


# ------------------------------------------------------------------- waits
async def test_wait_for_message(emu: Emulator, http: aiohttp.ClientSession) -> None:
    user = emu.add_user(1016, "Putu")
    update = emu.send_text(user, "/start")

    async def bot_reply() -> None:
        await ok(http, emu, "sendMessage", chat_id=user.id, text="Selamat datang")

    task = asyncio.create_task(bot_reply())
    reply = await emu.wait_for_message(user.id, after=update, timeout=2.0)
    await task
    assert reply["text"] == "Selamat datang"
    assert reply["message_id"] > update["message"]["message_id"]

    with pytest.raises(TimeoutError) as raised:
        await emu.wait_for_message(user.id, predicate=lambda m: "never" in m["text"], timeout=0.05)
    assert "Selamat datang" in str(raised.value)


async def test_second_poller_conflicts_and_stop_ends_long_poll(
    http: aiohttp.ClientSession,
) -> None:
    emulator = Emulator()
    await emulator.start()
    try:
        first = asyncio.create_task(call(http, emulator, "getUpdates", timeout=30))
        await emulator.wait_until(lambda: emulator.polling, 2.0)
        second = asyncio.create_task(call(http, emulator, "getUpdates", timeout=30))
        status, body = await asyncio.wait_for(first, 2.0)
        assert status == 409 and "terminated by other getUpdates request" in body["description"]
        await emulator.wait_until(lambda: emulator.polling and first.done(), 2.0)
    finally:
        started = time.monotonic()
        await emulator.stop()
    assert await asyncio.wait_for(second, 2.0) == (200, {"ok": True, "result": []})
    assert time.monotonic() - started < 2.0
