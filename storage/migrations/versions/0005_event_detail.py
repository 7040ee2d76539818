"""history events: a code (verdict, channel, privacy, reason …) apart from people's words

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:00:00

Events used to keep codes such as ``fixed`` or ``walk_in`` in ``text``, which was then shown as
it was ("Ditutup: fixed"). ``detail`` now holds the code, rendered through the catalog in the
reader's language, and ``text`` only what a person wrote.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Actions whose ``text`` was a code before this revision.
CODED = ("close", "submitted", "privacy")


def upgrade() -> None:
    with op.batch_alter_table("complaintevent", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    for action in CODED:
        op.execute(
            sa.text(
                "UPDATE complaintevent SET detail = text, text = NULL "
                "WHERE action = :action AND text IS NOT NULL AND length(text) <= 64"
            ).bindparams(action=action)
        )
    # A rating was kept as "★★★★ comment": the stars become the detail, the comment the text.
    op.execute(
        sa.text(
            "UPDATE complaintevent SET detail = CAST(length(text) - length(replace(text, '★', '')) "
            "AS VARCHAR(8)) WHERE action = 'rate' AND text IS NOT NULL"
        )
    )
    op.execute(
        sa.text(
            "UPDATE complaintevent SET text = NULLIF(trim(replace(text, '★', '')), '') "
            "WHERE action = 'rate' AND text IS NOT NULL"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("complaintevent", schema=None) as batch_op:
        batch_op.drop_column("detail")
