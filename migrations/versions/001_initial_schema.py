"""initial schema: the seed's DATABASE_SCHEMA.md, reproduced statement by statement

Revision ID: 001
Revises:
Create Date: 2026-11-27

Differences from the seed document's text, none of which changes the resulting schema
(tests/migrations/test_schema_matches_seed.py compares the catalogs item by item):
- generated_content is created before content_requests, which references it (the seed
  lists them the other way round and would not run top to bottom).
- `CREATE EXTENSION pgcrypto` is added: generate_id() calls gen_random_bytes().
- the seed's "repeat for all tables with updated_at" is spelled out: one
  update_<table>_updated_at trigger on each of the 11 tables that have the column.
"""

from __future__ import annotations

from alembic import op

revision = "001"
down_revision = None
branch_labels = None
depends_on = None

TABLES_WITH_UPDATED_AT = (
    "organizations",
    "users",
    "classes",
    "topics",
    "interests",
    "student_interests",
    "content_requests",
    "generated_content",
    "student_progress",
    "student_account_requests",
    "bulk_upload_jobs",
)

ENUMS = (
    "organization_type",
    "user_role",
    "request_status",
    "content_type",
    "progress_status",
    "feedback_type",
    "account_request_status",
    "job_status",
)

TABLES_IN_CREATION_ORDER = (
    "organizations",
    "users",
    "classes",
    "class_students",
    "topics",
    "interests",
    "student_interests",
    "generated_content",
    "content_requests",
    "student_progress",
    "feedback",
    "student_account_requests",
    "bulk_upload_jobs",
    "audit_logs",
)

SCHEMA_SQL = r"""
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TYPE organization_type AS ENUM ('district', 'school');

CREATE TABLE organizations (
    id VARCHAR(50) PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    org_type organization_type NOT NULL,
    parent_id VARCHAR(50) REFERENCES organizations(id) ON DELETE RESTRICT,
    address TEXT,
    city VARCHAR(100),
    state VARCHAR(2),
    zip_code VARCHAR(10),
    phone VARCHAR(20),
    metadata JSONB DEFAULT '{}',
    is_active BOOLEAN DEFAULT true,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP WITH TIME ZONE,
    CHECK (
        (org_type = 'district' AND parent_id IS NULL) OR
        (org_type = 'school' AND parent_id IS NOT NULL)
    )
);

CREATE INDEX idx_organizations_parent ON organizations(parent_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_organizations_type ON organizations(org_type) WHERE deleted_at IS NULL;

CREATE TYPE user_role AS ENUM (
    'student',
    'teacher',
    'school_admin',
    'district_admin',
    'vividly_admin',
    'vividly_ops',
    'vividly_curriculum'
);

CREATE TABLE users (
    id VARCHAR(50) PRIMARY KEY,
    email VARCHAR(255) UNIQUE NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    email_verified BOOLEAN DEFAULT false,
    first_name VARCHAR(100) NOT NULL,
    last_name VARCHAR(100) NOT NULL,
    role user_role NOT NULL,
    org_id VARCHAR(50) NOT NULL REFERENCES organizations(id) ON DELETE RESTRICT,
    student_id VARCHAR(50),
    grade_level INTEGER,
    is_active BOOLEAN DEFAULT true,
    last_login_at TIMESTAMP WITH TIME ZONE,
    reset_token VARCHAR(255),
    reset_token_expires_at TIMESTAMP WITH TIME ZONE,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP WITH TIME ZONE,
    CHECK (
        (role = 'student' AND grade_level IS NOT NULL) OR
        (role != 'student' AND grade_level IS NULL)
    )
);

CREATE INDEX idx_users_email ON users(email) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_org_role ON users(org_id, role) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_student_id ON users(student_id) WHERE student_id IS NOT NULL;

CREATE TABLE classes (
    id VARCHAR(50) PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    subject VARCHAR(100),
    grade_level INTEGER,
    school_year VARCHAR(20),
    teacher_id VARCHAR(50) NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
    school_id VARCHAR(50) NOT NULL REFERENCES organizations(id) ON DELETE RESTRICT,
    invite_code VARCHAR(20) UNIQUE,
    is_active BOOLEAN DEFAULT true,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    deleted_at TIMESTAMP WITH TIME ZONE,
    CHECK (grade_level BETWEEN 9 AND 12)
);

CREATE INDEX idx_classes_teacher ON classes(teacher_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_classes_school ON classes(school_id) WHERE deleted_at IS NULL;

CREATE TABLE class_students (
    id SERIAL PRIMARY KEY,
    class_id VARCHAR(50) NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    student_id VARCHAR(50) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    enrolled_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    dropped_at TIMESTAMP WITH TIME ZONE,
    UNIQUE(class_id, student_id)
);

CREATE INDEX idx_class_students_class ON class_students(class_id) WHERE dropped_at IS NULL;
CREATE INDEX idx_class_students_student ON class_students(student_id) WHERE dropped_at IS NULL;

CREATE TABLE topics (
    id VARCHAR(100) PRIMARY KEY,
    parent_id VARCHAR(100) REFERENCES topics(id) ON DELETE RESTRICT,
    path VARCHAR(500),
    depth INTEGER NOT NULL DEFAULT 0,
    title VARCHAR(255) NOT NULL,
    description TEXT,
    subject VARCHAR(50) NOT NULL,
    grade_level_min INTEGER,
    grade_level_max INTEGER,
    display_order INTEGER DEFAULT 0,
    is_active BOOLEAN DEFAULT true,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_topics_subject ON topics(subject) WHERE is_active = true;
CREATE INDEX idx_topics_parent ON topics(parent_id) WHERE is_active = true;
CREATE INDEX idx_topics_path ON topics USING GIN(to_tsvector('english', path));

CREATE TABLE interests (
    id VARCHAR(50) PRIMARY KEY,
    name VARCHAR(100) NOT NULL UNIQUE,
    description TEXT,
    category VARCHAR(50),
    icon_url VARCHAR(500),
    is_active BOOLEAN DEFAULT true,
    display_order INTEGER DEFAULT 0,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_interests_category ON interests(category) WHERE is_active = true;

CREATE TABLE student_interests (
    id SERIAL PRIMARY KEY,
    student_id VARCHAR(50) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    interest_id VARCHAR(50) NOT NULL REFERENCES interests(id) ON DELETE CASCADE,
    rank INTEGER NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(student_id, interest_id),
    UNIQUE(student_id, rank),
    CHECK (rank > 0 AND rank <= 10)
);

CREATE INDEX idx_student_interests_student ON student_interests(student_id);

CREATE TYPE request_status AS ENUM (
    'nlu_processing',
    'needs_clarification',
    'cache_check',
    'generating_script',
    'generating_audio',
    'generating_video',
    'fast_path_ready',
    'completed',
    'failed'
);

CREATE TYPE content_type AS ENUM ('vivid_now', 'vivid_learning');

CREATE TABLE generated_content (
    id VARCHAR(50) PRIMARY KEY,
    topic_id VARCHAR(100) NOT NULL REFERENCES topics(id) ON DELETE RESTRICT,
    interest_id VARCHAR(50) NOT NULL REFERENCES interests(id) ON DELETE RESTRICT,
    style VARCHAR(50) NOT NULL DEFAULT 'conversational',
    cache_key VARCHAR(255) NOT NULL UNIQUE,
    content_type content_type NOT NULL,
    script_url VARCHAR(500),
    audio_url VARCHAR(500),
    video_url VARCHAR(500),
    thumbnail_url VARCHAR(500),
    duration_seconds INTEGER,
    file_size_bytes BIGINT,
    generation_metadata JSONB DEFAULT '{}',
    quality_score DECIMAL(3,2),
    manual_review_status VARCHAR(50),
    view_count INTEGER DEFAULT 0,
    completion_count INTEGER DEFAULT 0,
    average_rating DECIMAL(3,2),
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_generated_content_cache_key ON generated_content(cache_key);
CREATE INDEX idx_generated_content_topic ON generated_content(topic_id);
CREATE INDEX idx_generated_content_popularity ON generated_content(view_count DESC);

CREATE TABLE content_requests (
    id VARCHAR(50) PRIMARY KEY,
    student_id VARCHAR(50) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    original_query TEXT NOT NULL,
    topic_id VARCHAR(100) REFERENCES topics(id) ON DELETE SET NULL,
    interest_id VARCHAR(50) REFERENCES interests(id) ON DELETE SET NULL,
    style VARCHAR(50) DEFAULT 'conversational',
    status request_status NOT NULL DEFAULT 'nlu_processing',
    cache_hit BOOLEAN DEFAULT false,
    generated_content_id VARCHAR(50) REFERENCES generated_content(id) ON DELETE SET NULL,
    error_message TEXT,
    retry_count INTEGER DEFAULT 0,
    completed_at TIMESTAMP WITH TIME ZONE,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_content_requests_student ON content_requests(student_id, created_at DESC);
CREATE INDEX idx_content_requests_status ON content_requests(status) WHERE status NOT IN ('completed', 'failed');
CREATE INDEX idx_content_requests_topic ON content_requests(topic_id) WHERE topic_id IS NOT NULL;

CREATE TYPE progress_status AS ENUM (
    'not_started',
    'in_progress',
    'completed',
    'struggling'
);

CREATE TABLE student_progress (
    id SERIAL PRIMARY KEY,
    student_id VARCHAR(50) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    topic_id VARCHAR(100) NOT NULL REFERENCES topics(id) ON DELETE CASCADE,
    status progress_status NOT NULL DEFAULT 'not_started',
    view_count INTEGER DEFAULT 0,
    last_viewed_at TIMESTAMP WITH TIME ZONE,
    completed_at TIMESTAMP WITH TIME ZONE,
    content_id VARCHAR(50) REFERENCES generated_content(id) ON DELETE SET NULL,
    total_time_seconds INTEGER DEFAULT 0,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    UNIQUE(student_id, topic_id)
);

CREATE INDEX idx_student_progress_student ON student_progress(student_id, status);
CREATE INDEX idx_student_progress_topic ON student_progress(topic_id);
CREATE INDEX idx_student_progress_recent ON student_progress(student_id, last_viewed_at DESC);

CREATE TYPE feedback_type AS ENUM (
    'mark_complete',
    'make_simpler',
    'try_different_interest',
    'report_issue',
    'rating_only'
);

CREATE TABLE feedback (
    id VARCHAR(50) PRIMARY KEY,
    student_id VARCHAR(50) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    content_id VARCHAR(50) NOT NULL REFERENCES generated_content(id) ON DELETE CASCADE,
    feedback_type feedback_type NOT NULL,
    rating INTEGER,
    comment TEXT,
    triggered_regeneration BOOLEAN DEFAULT false,
    regeneration_request_id VARCHAR(50) REFERENCES content_requests(id) ON DELETE SET NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    CHECK (rating IS NULL OR (rating >= 1 AND rating <= 5))
);

CREATE INDEX idx_feedback_content ON feedback(content_id, created_at DESC);
CREATE INDEX idx_feedback_student ON feedback(student_id, created_at DESC);
CREATE INDEX idx_feedback_type ON feedback(feedback_type) WHERE triggered_regeneration = true;

CREATE TYPE account_request_status AS ENUM (
    'pending',
    'approved',
    'denied'
);

CREATE TABLE student_account_requests (
    id VARCHAR(50) PRIMARY KEY,
    teacher_id VARCHAR(50) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    first_name VARCHAR(100) NOT NULL,
    last_name VARCHAR(100) NOT NULL,
    email VARCHAR(255) NOT NULL,
    grade_level INTEGER NOT NULL,
    student_id VARCHAR(50),
    class_id VARCHAR(50) NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    justification TEXT,
    status account_request_status NOT NULL DEFAULT 'pending',
    reviewed_by VARCHAR(50) REFERENCES users(id) ON DELETE SET NULL,
    reviewed_at TIMESTAMP WITH TIME ZONE,
    review_notes TEXT,
    created_user_id VARCHAR(50) REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_account_requests_status ON student_account_requests(status, created_at DESC);
CREATE INDEX idx_account_requests_teacher ON student_account_requests(teacher_id);

CREATE TYPE job_status AS ENUM (
    'queued',
    'processing',
    'completed',
    'failed'
);

CREATE TABLE bulk_upload_jobs (
    id VARCHAR(50) PRIMARY KEY,
    uploaded_by VARCHAR(50) NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    school_id VARCHAR(50) NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    file_path VARCHAR(500) NOT NULL,
    total_rows INTEGER,
    status job_status NOT NULL DEFAULT 'queued',
    successful_count INTEGER DEFAULT 0,
    failed_count INTEGER DEFAULT 0,
    error_log JSONB DEFAULT '[]',
    started_at TIMESTAMP WITH TIME ZONE,
    completed_at TIMESTAMP WITH TIME ZONE,
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_bulk_upload_jobs_uploader ON bulk_upload_jobs(uploaded_by, created_at DESC);
CREATE INDEX idx_bulk_upload_jobs_status ON bulk_upload_jobs(status);

CREATE TABLE audit_logs (
    id BIGSERIAL PRIMARY KEY,
    user_id VARCHAR(50) REFERENCES users(id) ON DELETE SET NULL,
    user_role user_role,
    action VARCHAR(100) NOT NULL,
    resource_type VARCHAR(50),
    resource_id VARCHAR(50),
    ip_address INET,
    user_agent TEXT,
    metadata JSONB DEFAULT '{}',
    created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_audit_logs_user ON audit_logs(user_id, created_at DESC);
CREATE INDEX idx_audit_logs_resource ON audit_logs(resource_type, resource_id);
CREATE INDEX idx_audit_logs_created ON audit_logs(created_at DESC);

CREATE INDEX idx_student_progress_dashboard
ON student_progress(student_id, status, last_viewed_at DESC);

CREATE INDEX idx_class_students_engagement
ON class_students(class_id, enrolled_at DESC)
WHERE dropped_at IS NULL;

CREATE INDEX idx_users_activation
ON users(org_id, role, last_login_at DESC)
WHERE is_active = true AND deleted_at IS NULL;

CREATE INDEX idx_content_usage
ON generated_content(topic_id, view_count DESC, average_rating DESC);

CREATE INDEX idx_topics_search
ON topics USING GIN(to_tsvector('english', title || ' ' || description));

CREATE INDEX idx_users_search
ON users USING GIN(to_tsvector('english', first_name || ' ' || last_name || ' ' || email));

CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = CURRENT_TIMESTAMP;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION generate_id(prefix TEXT)
RETURNS TEXT AS $$
DECLARE
    random_string TEXT;
BEGIN
    random_string := encode(gen_random_bytes(8), 'hex');
    RETURN prefix || '_' || random_string;
END;
$$ LANGUAGE plpgsql;
"""


def trigger_sql(table: str) -> str:
    return (
        f"CREATE TRIGGER update_{table}_updated_at BEFORE UPDATE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();"
    )


def statements(sql: str) -> list[str]:
    """Split on `;` at the end of a line outside `$$` bodies (asyncpg runs one at a time)."""
    out: list[str] = []
    current: list[str] = []
    in_body = False
    for line in sql.splitlines():
        current.append(line)
        in_body ^= line.count("$$") % 2 == 1
        if not in_body and line.rstrip().endswith(";"):
            out.append("\n".join(current).strip().rstrip(";"))
            current = []
    assert not "\n".join(current).strip(), "unterminated statement"
    return out


def upgrade() -> None:
    for statement in statements(SCHEMA_SQL):
        op.execute(statement)
    for table in TABLES_WITH_UPDATED_AT:
        op.execute(trigger_sql(table))


def downgrade() -> None:
    for table in reversed(TABLES_IN_CREATION_ORDER):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    for name in ENUMS:
        op.execute(f"DROP TYPE IF EXISTS {name}")
    op.execute("DROP FUNCTION IF EXISTS generate_id(TEXT)")
    op.execute("DROP FUNCTION IF EXISTS update_updated_at_column()")
    # pgcrypto stays: it may have been installed before this migration and others may use it.
