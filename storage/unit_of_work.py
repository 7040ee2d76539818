"""One unit of work per update: everything commits together or nothing does."""

from __future__ import annotations

from types import TracebackType

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.database import SessionFactory


class UnitOfWork:
    """A session that rolls back unless ``commit`` was called."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        """The open session."""
        if self._session is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessions()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        # close() rolls back whatever was not committed, and unlike rollback() it leaves the
        # loaded objects readable (detached, not expired).
        try:
            await self.session.close()
        finally:
            self._session = None

    async def commit(self) -> None:
        """Make the work durable."""
        await self.session.commit()
