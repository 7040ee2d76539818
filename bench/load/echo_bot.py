"""The baseline of the load benchmark: a bare aiogram bot, no database, no flows.

It answers every text with sendMessage and every button press with answerCallbackQuery +
editMessageText, each message carrying one inline button (``e:next``), so the load generator
drives it with the same mix of updates as Aduan's filing flow and the bot makes about as many
Bot API calls per update. In webhook mode the POST is answered once the update is handled, as
Aduan does (``handle_in_background=False``).

Run: python -m bench.load.echo_bot --api http://127.0.0.1:8081 --token 1:x [--webhook URL
--listen 127.0.0.1:8443 --secret S]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="Next", callback_data="e:next")]]
)


def dispatcher() -> Dispatcher:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "…", reply_markup=KEYBOARD)

    @dp.callback_query()
    async def press(query: CallbackQuery) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(f"pressed {query.id}", reply_markup=KEYBOARD)

    return dp


async def serve_webhook(dp: Dispatcher, bot: Bot, args: argparse.Namespace) -> None:
    app = web.Application()
    SimpleRequestHandler(dp, bot, secret_token=args.secret, handle_in_background=False).register(
        app, path=urlsplit(args.webhook).path or "/"
    )
    setup_application(app, dp, bot=bot)
    host, _, port = args.listen.rpartition(":")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, int(port)).start()
    await bot.set_webhook(args.webhook, secret_token=args.secret)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="Bot API server, e.g. the emulator")
    parser.add_argument("--token", required=True)
    parser.add_argument("--webhook", help="webhook URL (default: polling)")
    parser.add_argument("--listen", default="127.0.0.1:8443")
    parser.add_argument("--secret", default="echo-secret-0123456789")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    session = AiohttpSession(api=TelegramAPIServer.from_base(args.api))
    bot = Bot(args.token, session=session)
    dp = dispatcher()
    try:
        if args.webhook:
            await serve_webhook(dp, bot, args)
        else:
            await bot.delete_webhook()
            await dp.start_polling(bot, polling_timeout=10, handle_signals=True)
    finally:
        await bot.session.close()


if __name__ == "__main__":
    asyncio.run(main())
