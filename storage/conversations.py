"""Conversation state rows, guarded by a version column so two processes cannot both win."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Conversation


class ConcurrentUpdate(Exception):
    """Another process changed the conversation first; the update must be run again."""


@dataclass
class FlowState:
    """Which flow a chat is in, at which step, with what data so far."""

    flow: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedState:
    """A conversation as read, with the version to check when writing it back."""

    state: FlowState | None
    version: int | None
    expired_flow: str | None = None


async def load_state(
    *, session: AsyncSession, chat_id: int, user_id: int, now: datetime
) -> LoadedState:
    """The chat's conversation; an expired one counts as gone (and is reported as expired)."""
    row = (
        await session.exec(
            select(Conversation).where(
                Conversation.chat_id == chat_id, Conversation.user_id == user_id
            )
        )
    ).first()
    if row is None:
        return LoadedState(state=None, version=None)
    if row.expires_at <= now:
        return LoadedState(state=None, version=row.version, expired_flow=row.flow)
    return LoadedState(
        state=FlowState(flow=row.flow, step=row.step, data=dict(row.data)), version=row.version
    )


async def save_state(
    *,
    session: AsyncSession,
    chat_id: int,
    user_id: int,
    state: FlowState | None,
    loaded_version: int | None,
    expires_at: datetime,
    now: datetime,
) -> None:
    """Write the new state back (or delete it), failing if someone else wrote in between."""
    where = (col(Conversation.chat_id) == chat_id, col(Conversation.user_id) == user_id)
    if loaded_version is None:
        if state is not None:
            session.add(
                Conversation(
                    chat_id=chat_id,
                    user_id=user_id,
                    flow=state.flow,
                    step=state.step,
                    data=state.data,
                    expires_at=expires_at,
                    updated_at=now,
                )
            )
        await session.flush()
        return
    versioned = (*where, col(Conversation.version) == loaded_version)
    if state is None:
        result = await session.exec(delete(Conversation).where(*versioned))
    else:
        result = await session.exec(
            update(Conversation)
            .where(*versioned)
            .values(
                flow=state.flow,
                step=state.step,
                data=state.data,
                expires_at=expires_at,
                updated_at=now,
                version=loaded_version + 1,
            )
        )
    if result.rowcount != 1:
        raise ConcurrentUpdate(f"conversation {chat_id}/{user_id} changed concurrently")
