"""Every inline button's callback data, typed: one class per kind of button, packed and parsed here.

Telegram gives a button 1–64 bytes of data and sends them back untouched by anything but the
user's client, so nothing parsed here is trusted: handlers reload every id from the database
and check it. The wire format is ``<prefix>:<field>:<field>…`` (kept as the first release
wrote it, so buttons already in people's chats keep working). ``pack`` refuses data over 64
bytes; ``parse`` returns None for anything that is not exactly one of these shapes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Self, get_type_hints

MAX_BYTES = 64


class CallbackTooLong(ValueError):
    """Packed data would exceed Telegram's 64 bytes."""


@dataclass(frozen=True)
class Callback:
    """Base of every button's data; subclasses name their ``prefix`` and declare fields."""

    prefix: ClassVar[str]

    def pack(self) -> str:
        """The data Telegram carries for this button."""
        parts = [self.prefix, *(_dump(getattr(self, f.name)) for f in dataclasses.fields(self))]
        while len(parts) > 1 and parts[-1] == "" and _optional_tail(type(self), len(parts) - 1):
            parts.pop()
        data = ":".join(parts)
        if len(data.encode()) > MAX_BYTES:
            raise CallbackTooLong(data)
        return data

    @classmethod
    def unpack(cls, values: list[str]) -> Self | None:
        """The button from the fields after the prefix; None when they do not fit."""
        fields = dataclasses.fields(cls)
        hints = get_type_hints(cls)
        if len(values) > len(fields):
            # The last str field takes the rest (a tracking code never has ':', free values may).
            if not fields or hints[fields[-1].name] is not str:
                return None
            values = [*values[: len(fields) - 1], ":".join(values[len(fields) - 1 :])]
        kwargs: dict[str, Any] = {}
        for n, field in enumerate(fields):
            if n >= len(values):
                if field.default is dataclasses.MISSING:
                    return None
                continue
            raw = values[n]
            if hints[field.name] is int:
                if not raw.isdigit() or len(raw) > 18:
                    return None
                kwargs[field.name] = int(raw)
            elif hints[field.name] is bool:
                if raw not in ("0", "1"):
                    return None
                kwargs[field.name] = raw == "1"
            else:
                kwargs[field.name] = raw
        return cls(**kwargs)


def _dump(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _optional_tail(cls: type[Callback], index: int) -> bool:
    field = dataclasses.fields(cls)[index - 1]
    return field.default is not dataclasses.MISSING


# --- citizens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntakeChoice(Callback):
    """A button of the filing flow: ``i:<step>:<value>`` (value: a choice, back, cancel …)."""

    prefix: ClassVar[str] = "i"
    step: str
    value: str


@dataclass(frozen=True)
class MenuPress(Callback):
    """Main menu and lists: ``m:new``, ``m:help``, ``m:mine:<page>``, ``m:st:<code>``."""

    prefix: ClassVar[str] = "m"
    action: str
    arg: str = ""


@dataclass(frozen=True)
class DiscardDraft(Callback):
    """The answer to "discard this draft?": ``x:yes`` / ``x:no``."""

    prefix: ClassVar[str] = "x"
    answer: str


@dataclass(frozen=True)
class MediaOffer(Callback):
    """The answer to "start a report with this photo?": ``o:yes`` / ``o:no``."""

    prefix: ClassVar[str] = "o"
    answer: str


@dataclass(frozen=True)
class PickLanguage(Callback):
    """A language was chosen: ``l:<locale>``."""

    prefix: ClassVar[str] = "l"
    locale: str


@dataclass(frozen=True)
class AnswerQuestion(Callback):
    """The Reply button under an officer's question: ``c:ans:<report id>``."""

    prefix: ClassVar[str] = "c:ans"
    report_id: int


@dataclass(frozen=True)
class AbortAnswer(Callback):
    """Give up answering: ``c:abort``."""

    prefix: ClassVar[str] = "c:abort"


@dataclass(frozen=True)
class VerdictPress(Callback):
    """Verdict, rating or comment-skip on one resolution: ``v:<id>:<round>:<choice>``.

    ``choice``: a ``Verdict`` value, ``r0``–``r5`` (the rating; r0 skips) or ``cskip``.
    """

    prefix: ClassVar[str] = "v"
    report_id: int
    round: int
    choice: str


# --- staff ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpenCase(Callback):
    """Open a case card: ``s:case:<report id>``."""

    prefix: ClassVar[str] = "s:case"
    report_id: int


@dataclass(frozen=True)
class InboxView(Callback):
    """A filter or page of the inbox: ``s:in:<view>:<page>[:<shown>]``.

    ``shown`` fingerprints the page the button sits on, so a press that would show the same
    page again is recognised (older buttons have none and always redraw).
    """

    prefix: ClassVar[str] = "s:in"
    view: str
    page: int = 0
    shown: str = ""


@dataclass(frozen=True)
class DeactivateStaff(Callback):
    """The Deactivate button of the staff list: ``s:off:<staff id>``."""

    prefix: ClassVar[str] = "s:off"
    staff_id: int


@dataclass(frozen=True)
class AbortInput(Callback):
    """Cancel a staff text-input step: ``s:abort:0``."""

    prefix: ClassVar[str] = "s:abort"
    unused: int = 0

    def pack(self) -> str:
        """Always ``s:abort:0`` (the form already in chats)."""
        return "s:abort:0"


@dataclass(frozen=True)
class CaseAction(Callback):
    """A case button: ``s:<verb>:<report id>[:<choice>]``; verbs in handlers/staff_actions.py."""

    prefix: ClassVar[str] = "s"
    verb: str
    report_id: int
    choice: str = ""


# Most specific prefix first: "s:case" before the catch-all "s".
KINDS: tuple[type[Callback], ...] = (
    IntakeChoice,
    MenuPress,
    DiscardDraft,
    MediaOffer,
    PickLanguage,
    AnswerQuestion,
    AbortAnswer,
    VerdictPress,
    OpenCase,
    InboxView,
    DeactivateStaff,
    AbortInput,
    CaseAction,
)


def parse(data: str | None) -> Callback | None:
    """The typed button for ``data``; None for anything else (stale or forged)."""
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    for kind in KINDS:
        if data == kind.prefix or data.startswith(kind.prefix + ":"):
            rest = data[len(kind.prefix) + 1 :]
            values = rest.split(":") if rest else []
            parsed = kind.unpack(values)
            if parsed is not None:
                return parsed
            if kind.prefix.count(":"):
                return None  # a specific prefix that does not fit is not a generic one either
    return None
