"""name tree keys: domains.tree_key and mail_domains.tree_key (the labels reversed), indexed

A name and every name below it belong to one account (hostplane.names): finding the names below a name is an
index range on this key. Existing rows get their key from their name.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('domains', 'mail_domains')


def tree_key(name: str) -> str:
    """hostplane.db.tree_key as of this revision (a migration keeps its own copy)."""
    return "".join(f"{label}." for label in reversed(name.split(".")))


def _key_type() -> sa.types.TypeEngine[str]:
    return sa.String(length=254).with_variant(sa.String(length=254, collation='C'), 'postgresql')


def upgrade() -> None:
    connection = op.get_bind()
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('tree_key', _key_type(), nullable=True))
        rows = sa.table(table, sa.column('id', sa.Integer()), sa.column('name', sa.String()),
                        sa.column('tree_key', sa.String()))
        for id_, name in connection.execute(sa.select(rows.c.id, rows.c.name)).all():
            connection.execute(sa.update(rows).where(rows.c.id == id_).values(tree_key=tree_key(name)))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('tree_key', existing_type=_key_type(), nullable=False)
            batch_op.create_index(batch_op.f(f'ix_{table}_tree_key'), ['tree_key'], unique=False)


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_tree_key'))
            batch_op.drop_column('tree_key')
