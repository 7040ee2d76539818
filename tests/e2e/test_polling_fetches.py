"""A poller does not fetch again the updates it is still working on. Telegram's getUpdates
returns everything from the offset, and the offset only moves past finished updates (nothing
is confirmed before it is safe), so fetching after every finished update downloaded and
decoded the whole batch in flight each time: 0.8 getUpdates and ~80 JSON-decoded updates per
update under load (docs/PERFORMANCE.md). New work is fetched when the updates in flight have
dropped to a quarter of a batch."""

from __future__ import annotations

from bot.sandbox.emulator import Emulator
from bot.settings import Settings
from tests.support.live_bot import running_connected

CITIZENS = 60


async def test_a_burst_is_fetched_in_few_calls_and_every_update_answered(
    live_settings: Settings, emulator: Emulator
) -> None:
    users = [emulator.add_user(5000 + n, f"Warga {n}") for n in range(CITIZENS)]
    for user in users:  # waiting before the bot starts: the first getUpdates takes them all
        emulator.send_text(user.id, "/help")
    async with running_connected(live_settings):
        for user in users:
            await emulator.wait_for_message(user.id, timeout=60)
    fetches = len(emulator.calls_to("getUpdates"))
    # One for the burst, then one per finished update only once a quarter of a batch (25) is
    # left in flight; before, one per finished update (~60).
    assert fetches <= 1 + 25 + 5, fetches
