"""audit_logs partitioned by year

Revision ID: 006
Revises: 005
Create Date: 2026-12-01

Deviation from the seed, with its reason: the seed's retention table says audit_logs are
kept 7 years and "partition by year, archive old partitions". Row-by-row deletes of a
year of audit rows bloat the table and its indexes; detaching and dropping a partition
after archiving it does not. So audit_logs becomes a table PARTITION BY RANGE
(created_at) with one partition per UTC year (audit_logs_yYYYY) and a default partition
that catches anything outside them (so an audit insert never fails). A partitioned
table's primary key must include the partition key: it is (id, created_at), and
created_at is NOT NULL (its default is unchanged). Partitions for the current and the
next year are kept ready by the daily audit_log_partitions job; retention drops whole
years (pipeline/jobs/retention.py).

The rows and the id sequence are carried over as they are.
"""

from __future__ import annotations

from alembic import op

revision = "006"
down_revision = "005"
branch_labels = None
depends_on = None

_COLUMNS = """
    id BIGINT NOT NULL DEFAULT nextval('audit_logs_id_seq'::regclass),
    user_id VARCHAR(50) REFERENCES users(id) ON DELETE SET NULL,
    user_role user_role,
    action VARCHAR(100) NOT NULL,
    resource_type VARCHAR(50),
    resource_id VARCHAR(50),
    ip_address INET,
    user_agent TEXT,
    metadata JSONB DEFAULT '{}',
"""
# One statement per execute: asyncpg prepares each, and a prepared statement is one command.
_INDEXES = [
    "CREATE INDEX idx_audit_logs_user ON audit_logs(user_id, created_at DESC)",
    "CREATE INDEX idx_audit_logs_resource ON audit_logs(resource_type, resource_id)",
    "CREATE INDEX idx_audit_logs_created ON audit_logs(created_at DESC)",
]
_SET_ASIDE = [
    "ALTER TABLE audit_logs RENAME TO audit_logs_old",
    "ALTER TABLE audit_logs_old RENAME CONSTRAINT audit_logs_pkey TO audit_logs_old_pkey",
    "ALTER TABLE audit_logs_old "
    "RENAME CONSTRAINT audit_logs_user_id_fkey TO audit_logs_old_user_id_fkey",
    "ALTER INDEX idx_audit_logs_user RENAME TO idx_audit_logs_old_user",
    "ALTER INDEX idx_audit_logs_resource RENAME TO idx_audit_logs_old_resource",
    "ALTER INDEX idx_audit_logs_created RENAME TO idx_audit_logs_old_created",
]
_COPY = [
    """INSERT INTO audit_logs (id, user_id, user_role, action, resource_type, resource_id,
                               ip_address, user_agent, metadata, created_at)
       SELECT id, user_id, user_role, action, resource_type, resource_id, ip_address,
              user_agent, metadata, {created_at}
       FROM audit_logs_old""",
    "ALTER SEQUENCE audit_logs_id_seq OWNED BY audit_logs.id",
    "DROP TABLE audit_logs_old",
]


def _run(*statements: str) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    _run(*_SET_ASIDE)
    _run(
        f"""
        CREATE TABLE audit_logs ({_COLUMNS}
            created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP,
            CONSTRAINT audit_logs_pkey PRIMARY KEY (id, created_at)
        ) PARTITION BY RANGE (created_at)""",
        *_INDEXES,
    )
    # A partition per year that has rows, plus this year and the next (UTC years).
    op.execute("""
        DO $$
        DECLARE y int;
        BEGIN
            FOR y IN
                SELECT generate_series(
                    LEAST(COALESCE(min(extract(year FROM created_at AT TIME ZONE 'UTC')),
                                   extract(year FROM now() AT TIME ZONE 'UTC'))::int,
                          extract(year FROM now() AT TIME ZONE 'UTC')::int),
                    extract(year FROM now() AT TIME ZONE 'UTC')::int + 1)
                FROM audit_logs_old
            LOOP
                EXECUTE format(
                    'CREATE TABLE audit_logs_y%s PARTITION OF audit_logs '
                    'FOR VALUES FROM (%L) TO (%L)',
                    y, format('%s-01-01 00:00:00+00', y), format('%s-01-01 00:00:00+00', y + 1));
            END LOOP;
        END $$""")
    op.execute("CREATE TABLE audit_logs_default PARTITION OF audit_logs DEFAULT")
    _run(*(s.format(created_at="COALESCE(created_at, now())") for s in _COPY))


def downgrade() -> None:
    _run(*_SET_ASIDE)
    _run(
        f"""
        CREATE TABLE audit_logs ({_COLUMNS}
            created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
            CONSTRAINT audit_logs_pkey PRIMARY KEY (id)
        )""",
        *_INDEXES,
    )
    _run(*(s.format(created_at="created_at") for s in _COPY))
