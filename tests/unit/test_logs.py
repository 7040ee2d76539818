"""Log hygiene: the token never reaches a log line, chat ids are hashed (rule 11)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import QUIET_LOGGERS, RedactingFilter, chat_ref, configure_logging

TOKEN = "7012345678:AAH-real-looking_secret-part-0123456789ab"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    configure_logging(token=TOKEN, level=logging.DEBUG, handler=handler)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def test_http_client_request_lines_are_not_logged(stream: io.StringIO) -> None:
    logging.getLogger("httpx").info(
        'HTTP Request: POST https://api.telegram.org/bot%s/getMe "HTTP/1.1 200 OK"', TOKEN
    )
    logging.getLogger("telegram.ext").debug("calling getUpdates")
    assert stream.getvalue() == ""


def test_tokens_are_redacted_in_messages_args_and_tracebacks(stream: io.StringIO) -> None:
    log = logging.getLogger("aduan.test")
    log.warning("url was https://api.telegram.org/bot%s/sendMessage", TOKEN)
    log.warning("another bot: bot123456789:ABCdef_ghi-JKL failed")
    log.warning("bare %s and 98765432:%s", TOKEN, "x" * 35)
    try:
        raise RuntimeError(f"request to /bot{TOKEN}/getMe failed")
    except RuntimeError:
        log.exception("failure")
    text = stream.getvalue()
    assert TOKEN not in text
    assert "ABCdef_ghi-JKL" not in text
    assert "x" * 35 not in text
    assert "bot<redacted>" in text
    assert "RuntimeError" in text  # the traceback is kept, only the token goes


def test_filter_keeps_ordinary_text() -> None:
    redact = RedactingFilter([]).redact
    assert (
        redact("job 12 ran at 10:15:30, update 123456:7")
        == "job 12 ran at 10:15:30, update 123456:7"
    )


def test_chat_ref_is_stable_and_hides_the_id() -> None:
    assert chat_ref(1001) == chat_ref(1001)
    assert chat_ref(1001) != chat_ref(1002)
    assert "1001" not in chat_ref(1001)
    assert chat_ref(1001).startswith("chat#")
