"""The load benchmark (issue 12): ``python -m bench.load`` / ``make load``.

Simulated citizens and staff drive the real bot process (``python -m bot run``) through the
Telegram emulator over HTTP, next to a bare aiogram echo bot as the baseline. Modules:

- ``__main__``: the command line, the configuration matrix and the printed table;
- ``emulator``: the emulator with the measuring hooks (delivery and answer times), Telegram-like
  concurrent webhook delivery and a getUpdates without deep copies;
- ``actors``: the citizens' filing flow, the staff loops, closed- and open-loop load;
- ``processes``: the bot processes, their CPU and peak RSS from /proc, PostgreSQL databases,
  py-spy;
- ``echo_bot``: the baseline bot (``python -m bench.load.echo_bot``).

Not part of the test suite, and never run by ``make bench`` (which runs ``bench/*.py``).
"""
