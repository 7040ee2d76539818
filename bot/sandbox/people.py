"""Who lives in the sandbox: the three trainees' roles and the scenario's sample citizens."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ADMIN", "CITIZEN", "OFFICER", "SAMPLE_CITIZENS", "Person"]


@dataclass(frozen=True)
class Person:
    """A simulated Telegram user and the part they play (citizen, admin, officer, sample)."""

    user_id: int
    first_name: str
    role: str
    last_name: str | None = None
    username: str | None = None
    language: str | None = None  # None: the sandbox's language

    @property
    def name(self) -> str:
        """First and last name."""
        return " ".join(part for part in (self.first_name, self.last_name) if part)


CITIZEN = Person(1001, "Siti", "citizen", "Rahma", "siti_warga")
ADMIN = Person(9001, "Admin", "admin", "Kominfo", "admin_kominfo")
OFFICER = Person(9002, "Petugas", "officer", "PUPR", "petugas_pupr")
# The scenario's citizens; Andi writes in English, to show both languages side by side.
SAMPLE_CITIZENS = (
    Person(1101, "Budi", "sample", "Santoso", "budi_s"),
    Person(1102, "Rina", "sample", "Wati"),
    Person(1103, "Andi", "sample", "Pratama", "andi_p", language="en"),
)
