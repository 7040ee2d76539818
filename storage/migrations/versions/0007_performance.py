"""performance: indexes for inboxes, deadline scans and possible duplicates (issue 12)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 23:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.create_index(
            "ix_complaint_category_submitted",
            ["category_id", "submitted_at", "latitude", "longitude", "address", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_complaint_waiting",
            [
                "status",
                "agency_id",
                "verify_due_at",
                "first_response_due_at",
                "completion_due_at",
                "id",
            ],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.drop_index("ix_complaint_waiting")
        batch_op.drop_index("ix_complaint_category_submitted")
