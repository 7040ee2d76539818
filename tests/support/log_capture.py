"""Capturing logs through the production set-up (bot/logs.py), as the console would show them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from bot.logs import QUIET_LOGGERS, SCHEDULER_LOGGERS, configure_logging


class Captured(logging.Handler):
    """Every record, formatted with its traceback, one list entry per printed line."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.extend(self.format(record).splitlines())

    def since(self, mark: int) -> list[str]:
        """The lines printed after the first ``mark`` ones."""
        return self.lines[mark:]


@contextmanager
def captured_logs(*, token: str = "", level: int = logging.INFO) -> Iterator[Captured]:
    """``configure_logging`` with a capturing handler; the previous set-up is restored after."""
    root = logging.getLogger()
    saved_level = root.level
    names = QUIET_LOGGERS + SCHEDULER_LOGGERS
    saved = {name: logging.getLogger(name).level for name in names}
    handler = Captured()
    configure_logging(token=token, level=level, handler=handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)
        for name, old in saved.items():
            logging.getLogger(name).setLevel(old)
