"""Typed SQLAlchemy 2 models of the seed schema (../shared/seed/DATABASE_SCHEMA.md).

Names and types follow the seed exactly; migrations/ is the source of truth for DDL and
tests/migrations/test_migrations.py checks that these models and the migrated schema agree.
The seed's `metadata` columns are mapped as `metadata_` because Declarative reserves
`metadata`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ENUM as PGEnum
from sqlalchemy.dialects.postgresql import INET, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from pipeline.states import Status


class Base(DeclarativeBase):
    pass


def _enum(py: type[enum.Enum], name: str) -> PGEnum:
    return PGEnum(py, name=name, values_callable=lambda e: [m.value for m in e], create_type=False)


class OrganizationType(enum.StrEnum):
    district = "district"
    school = "school"


class UserRole(enum.StrEnum):
    student = "student"
    teacher = "teacher"
    school_admin = "school_admin"
    district_admin = "district_admin"
    vividly_admin = "vividly_admin"
    vividly_ops = "vividly_ops"
    vividly_curriculum = "vividly_curriculum"


# The request_status enum is the state machine's: one definition, in pipeline/states.py.
RequestStatus = Status


class ContentType(enum.StrEnum):
    vivid_now = "vivid_now"
    vivid_learning = "vivid_learning"


class ProgressStatus(enum.StrEnum):
    not_started = "not_started"
    in_progress = "in_progress"
    completed = "completed"
    struggling = "struggling"


class FeedbackType(enum.StrEnum):
    mark_complete = "mark_complete"
    make_simpler = "make_simpler"
    try_different_interest = "try_different_interest"
    report_issue = "report_issue"
    rating_only = "rating_only"


class AccountRequestStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    denied = "denied"


class JobStatus(enum.StrEnum):
    queued = "queued"
    processing = "processing"
    completed = "completed"
    failed = "failed"


organization_type = _enum(OrganizationType, "organization_type")
user_role = _enum(UserRole, "user_role")
request_status = _enum(RequestStatus, "request_status")
content_type = _enum(ContentType, "content_type")
progress_status = _enum(ProgressStatus, "progress_status")
feedback_type = _enum(FeedbackType, "feedback_type")
account_request_status = _enum(AccountRequestStatus, "account_request_status")
job_status = _enum(JobStatus, "job_status")

TSTZ = DateTime(timezone=True)
NOW = text("CURRENT_TIMESTAMP")
EMPTY_JSON = text("'{}'::jsonb")


def created_at() -> Mapped[datetime | None]:
    return mapped_column(TSTZ, server_default=NOW)


def updated_at() -> Mapped[datetime | None]:
    return mapped_column(TSTZ, server_default=NOW)


def metadata_column() -> Mapped[dict[str, Any] | None]:
    return mapped_column("metadata", JSONB, server_default=EMPTY_JSON)


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint(
            "(org_type = 'district' AND parent_id IS NULL) OR "
            "(org_type = 'school' AND parent_id IS NOT NULL)",
            name="organizations_check",
        ),
        Index("idx_organizations_parent", "parent_id", postgresql_where=text("deleted_at IS NULL")),
        Index("idx_organizations_type", "org_type", postgresql_where=text("deleted_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    org_type: Mapped[OrganizationType] = mapped_column(organization_type)
    parent_id: Mapped[str | None] = mapped_column(
        String(50), ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    address: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str | None] = mapped_column(String(2))
    zip_code: Mapped[str | None] = mapped_column(String(10))
    phone: Mapped[str | None] = mapped_column(String(20))
    metadata_: Mapped[dict[str, Any] | None] = metadata_column()
    is_active: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()
    deleted_at: Mapped[datetime | None] = mapped_column(TSTZ)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            "(role = 'student' AND grade_level IS NOT NULL) OR "
            "(role != 'student' AND grade_level IS NULL)",
            name="users_check",
        ),
        Index("idx_users_email", "email", postgresql_where=text("deleted_at IS NULL")),
        Index("idx_users_org_role", "org_id", "role", postgresql_where=text("deleted_at IS NULL")),
        Index(
            "idx_users_student_id", "student_id", postgresql_where=text("student_id IS NOT NULL")
        ),
        Index(
            "idx_users_activation",
            "org_id",
            "role",
            text("last_login_at DESC"),
            postgresql_where=text("is_active = true AND deleted_at IS NULL"),
        ),
        Index(
            "idx_users_search",
            # Written as PostgreSQL prints it back, so autogenerate sees no difference.
            text(
                "to_tsvector('english'::regconfig, (((first_name::text || ' '::text) "
                "|| last_name::text) || ' '::text) || email::text)"
            ),
            postgresql_using="gin",
        ),
    )

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    email_verified: Mapped[bool | None] = mapped_column(Boolean, server_default=text("false"))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[UserRole] = mapped_column(user_role)
    org_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    student_id: Mapped[str | None] = mapped_column(String(50))
    grade_level: Mapped[int | None] = mapped_column(Integer)
    is_active: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))
    last_login_at: Mapped[datetime | None] = mapped_column(TSTZ)
    reset_token: Mapped[str | None] = mapped_column(String(255))
    reset_token_expires_at: Mapped[datetime | None] = mapped_column(TSTZ)
    metadata_: Mapped[dict[str, Any] | None] = metadata_column()
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()
    deleted_at: Mapped[datetime | None] = mapped_column(TSTZ)


class Class(Base):
    __tablename__ = "classes"
    __table_args__ = (
        CheckConstraint("grade_level BETWEEN 9 AND 12", name="classes_grade_level_check"),
        Index("idx_classes_teacher", "teacher_id", postgresql_where=text("deleted_at IS NULL")),
        Index("idx_classes_school", "school_id", postgresql_where=text("deleted_at IS NULL")),
    )

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(String(100))
    grade_level: Mapped[int | None] = mapped_column(Integer)
    school_year: Mapped[str | None] = mapped_column(String(20))
    teacher_id: Mapped[str] = mapped_column(String(50), ForeignKey("users.id", ondelete="RESTRICT"))
    school_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    invite_code: Mapped[str | None] = mapped_column(String(20), unique=True)
    is_active: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))
    metadata_: Mapped[dict[str, Any] | None] = metadata_column()
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()
    deleted_at: Mapped[datetime | None] = mapped_column(TSTZ)


class ClassStudent(Base):
    __tablename__ = "class_students"
    __table_args__ = (
        UniqueConstraint("class_id", "student_id"),
        Index("idx_class_students_class", "class_id", postgresql_where=text("dropped_at IS NULL")),
        Index(
            "idx_class_students_student", "student_id", postgresql_where=text("dropped_at IS NULL")
        ),
        Index(
            "idx_class_students_engagement",
            "class_id",
            text("enrolled_at DESC"),
            postgresql_where=text("dropped_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    class_id: Mapped[str] = mapped_column(String(50), ForeignKey("classes.id", ondelete="CASCADE"))
    student_id: Mapped[str] = mapped_column(String(50), ForeignKey("users.id", ondelete="CASCADE"))
    enrolled_at: Mapped[datetime | None] = mapped_column(TSTZ, server_default=NOW)
    dropped_at: Mapped[datetime | None] = mapped_column(TSTZ)


class Topic(Base):
    __tablename__ = "topics"
    __table_args__ = (
        Index("idx_topics_subject", "subject", postgresql_where=text("is_active = true")),
        Index("idx_topics_parent", "parent_id", postgresql_where=text("is_active = true")),
        Index("idx_topics_path", text("to_tsvector('english', path)"), postgresql_using="gin"),
        Index(
            "idx_topics_search",
            text("to_tsvector('english'::regconfig, (title::text || ' '::text) || description)"),
            postgresql_using="gin",
        ),
    )

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    parent_id: Mapped[str | None] = mapped_column(
        String(100), ForeignKey("topics.id", ondelete="RESTRICT")
    )
    path: Mapped[str | None] = mapped_column(String(500))
    depth: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(50))
    grade_level_min: Mapped[int | None] = mapped_column(Integer)
    grade_level_max: Mapped[int | None] = mapped_column(Integer)
    display_order: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))
    is_active: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))
    metadata_: Mapped[dict[str, Any] | None] = metadata_column()
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class Interest(Base):
    __tablename__ = "interests"
    __table_args__ = (
        Index("idx_interests_category", "category", postgresql_where=text("is_active = true")),
    )

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(50))
    icon_url: Mapped[str | None] = mapped_column(String(500))
    is_active: Mapped[bool | None] = mapped_column(Boolean, server_default=text("true"))
    display_order: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))
    metadata_: Mapped[dict[str, Any] | None] = metadata_column()
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class StudentInterest(Base):
    __tablename__ = "student_interests"
    __table_args__ = (
        UniqueConstraint("student_id", "interest_id"),
        UniqueConstraint("student_id", "rank"),
        CheckConstraint("rank > 0 AND rank <= 10", name="student_interests_rank_check"),
        Index("idx_student_interests_student", "student_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[str] = mapped_column(String(50), ForeignKey("users.id", ondelete="CASCADE"))
    interest_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("interests.id", ondelete="CASCADE")
    )
    rank: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class ContentRequest(Base):
    __tablename__ = "content_requests"
    __table_args__ = (
        Index("idx_content_requests_student", "student_id", text("created_at DESC")),
        Index(
            "idx_content_requests_status",
            "status",
            postgresql_where=text("status NOT IN ('completed', 'failed')"),
        ),
        Index(
            "idx_content_requests_topic", "topic_id", postgresql_where=text("topic_id IS NOT NULL")
        ),
        # 002_content_requests_deleted_at
        Index(
            "idx_content_requests_retention",
            "created_at",
            postgresql_where=text("deleted_at IS NULL AND status IN ('completed', 'failed')"),
        ),
        # 004_content_requests_idempotency_key
        Index(
            "idx_content_requests_idempotency",
            "student_id",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        # 005_retention_that_deletes
        Index(
            "idx_content_requests_scrub",
            "deleted_at",
            postgresql_where=text("deleted_at IS NOT NULL AND NOT (metadata ? 'scrubbed_at')"),
        ),
        # 008_single_flight_lookups
        Index(
            "idx_content_requests_inflight_leader",
            text("(metadata->>'cache_key')"),
            postgresql_where=text(
                "metadata->>'role' = 'leader' AND deleted_at IS NULL AND status IN "
                "('generating_script', 'generating_audio', 'fast_path_ready', 'generating_video')"
            ),
        ),
        Index(
            "idx_content_requests_followers",
            text("(metadata->>'leader_id')"),
            postgresql_where=text("metadata->>'role' = 'follower'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    student_id: Mapped[str] = mapped_column(String(50), ForeignKey("users.id", ondelete="CASCADE"))
    original_query: Mapped[str] = mapped_column(Text)
    topic_id: Mapped[str | None] = mapped_column(
        String(100), ForeignKey("topics.id", ondelete="SET NULL")
    )
    interest_id: Mapped[str | None] = mapped_column(
        String(50), ForeignKey("interests.id", ondelete="SET NULL")
    )
    style: Mapped[str | None] = mapped_column(String(50), server_default=text("'conversational'"))
    status: Mapped[RequestStatus] = mapped_column(
        request_status, server_default=text("'nlu_processing'")
    )
    cache_hit: Mapped[bool | None] = mapped_column(Boolean, server_default=text("false"))
    generated_content_id: Mapped[str | None] = mapped_column(
        String(50), ForeignKey("generated_content.id", ondelete="SET NULL")
    )
    error_message: Mapped[str | None] = mapped_column(Text)
    retry_count: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))
    completed_at: Mapped[datetime | None] = mapped_column(TSTZ)
    metadata_: Mapped[dict[str, Any] | None] = metadata_column()
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()
    deleted_at: Mapped[datetime | None] = mapped_column(TSTZ)  # 002
    idempotency_key: Mapped[str | None] = mapped_column(String(100))  # 004


class GeneratedContent(Base):
    __tablename__ = "generated_content"
    __table_args__ = (
        Index("idx_generated_content_cache_key", "cache_key"),
        Index("idx_generated_content_topic", "topic_id"),
        Index("idx_generated_content_popularity", text("view_count DESC")),
        Index(
            "idx_content_usage", "topic_id", text("view_count DESC"), text("average_rating DESC")
        ),
    )

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    topic_id: Mapped[str] = mapped_column(String(100), ForeignKey("topics.id", ondelete="RESTRICT"))
    interest_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("interests.id", ondelete="RESTRICT")
    )
    style: Mapped[str] = mapped_column(String(50), server_default=text("'conversational'"))
    cache_key: Mapped[str] = mapped_column(String(255), unique=True)
    content_type: Mapped[ContentType] = mapped_column(content_type)
    script_url: Mapped[str | None] = mapped_column(String(500))
    audio_url: Mapped[str | None] = mapped_column(String(500))
    video_url: Mapped[str | None] = mapped_column(String(500))
    thumbnail_url: Mapped[str | None] = mapped_column(String(500))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    file_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    generation_metadata: Mapped[dict[str, Any] | None] = mapped_column(
        JSONB, server_default=EMPTY_JSON
    )
    quality_score: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))
    manual_review_status: Mapped[str | None] = mapped_column(String(50))
    view_count: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))
    completion_count: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))
    average_rating: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class StudentProgress(Base):
    __tablename__ = "student_progress"
    __table_args__ = (
        UniqueConstraint("student_id", "topic_id"),
        Index("idx_student_progress_student", "student_id", "status"),
        Index("idx_student_progress_topic", "topic_id"),
        Index("idx_student_progress_recent", "student_id", text("last_viewed_at DESC")),
        Index(
            "idx_student_progress_dashboard", "student_id", "status", text("last_viewed_at DESC")
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[str] = mapped_column(String(50), ForeignKey("users.id", ondelete="CASCADE"))
    topic_id: Mapped[str] = mapped_column(String(100), ForeignKey("topics.id", ondelete="CASCADE"))
    status: Mapped[ProgressStatus] = mapped_column(
        progress_status, server_default=text("'not_started'")
    )
    view_count: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))
    last_viewed_at: Mapped[datetime | None] = mapped_column(TSTZ)
    completed_at: Mapped[datetime | None] = mapped_column(TSTZ)
    content_id: Mapped[str | None] = mapped_column(
        String(50), ForeignKey("generated_content.id", ondelete="SET NULL")
    )
    total_time_seconds: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint(
            "rating IS NULL OR (rating >= 1 AND rating <= 5)", name="feedback_rating_check"
        ),
        Index("idx_feedback_content", "content_id", text("created_at DESC")),
        Index("idx_feedback_student", "student_id", text("created_at DESC")),
        Index(
            "idx_feedback_type",
            "feedback_type",
            postgresql_where=text("triggered_regeneration = true"),
        ),
    )

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    student_id: Mapped[str] = mapped_column(String(50), ForeignKey("users.id", ondelete="CASCADE"))
    content_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("generated_content.id", ondelete="CASCADE")
    )
    feedback_type: Mapped[FeedbackType] = mapped_column(feedback_type)
    rating: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    triggered_regeneration: Mapped[bool | None] = mapped_column(
        Boolean, server_default=text("false")
    )
    regeneration_request_id: Mapped[str | None] = mapped_column(
        String(50), ForeignKey("content_requests.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime | None] = created_at()


class StudentAccountRequest(Base):
    __tablename__ = "student_account_requests"
    __table_args__ = (
        Index("idx_account_requests_status", "status", text("created_at DESC")),
        Index("idx_account_requests_teacher", "teacher_id"),
    )

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    teacher_id: Mapped[str] = mapped_column(String(50), ForeignKey("users.id", ondelete="CASCADE"))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(255))
    grade_level: Mapped[int] = mapped_column(Integer)
    student_id: Mapped[str | None] = mapped_column(String(50))
    class_id: Mapped[str] = mapped_column(String(50), ForeignKey("classes.id", ondelete="CASCADE"))
    justification: Mapped[str | None] = mapped_column(Text)
    status: Mapped[AccountRequestStatus] = mapped_column(
        account_request_status, server_default=text("'pending'")
    )
    reviewed_by: Mapped[str | None] = mapped_column(
        String(50), ForeignKey("users.id", ondelete="SET NULL")
    )
    reviewed_at: Mapped[datetime | None] = mapped_column(TSTZ)
    review_notes: Mapped[str | None] = mapped_column(Text)
    created_user_id: Mapped[str | None] = mapped_column(
        String(50), ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()


class BulkUploadJob(Base):
    __tablename__ = "bulk_upload_jobs"
    __table_args__ = (
        Index("idx_bulk_upload_jobs_uploader", "uploaded_by", text("created_at DESC")),
        Index("idx_bulk_upload_jobs_status", "status"),
        # 005_retention_that_deletes
        Index(
            "idx_bulk_upload_jobs_file_kept",
            "completed_at",
            postgresql_where=text("file_deleted_at IS NULL AND status IN ('completed', 'failed')"),
        ),
    )

    id: Mapped[str] = mapped_column(String(50), primary_key=True)
    uploaded_by: Mapped[str] = mapped_column(String(50), ForeignKey("users.id", ondelete="CASCADE"))
    school_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("organizations.id", ondelete="CASCADE")
    )
    file_path: Mapped[str] = mapped_column(String(500))
    total_rows: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[JobStatus] = mapped_column(job_status, server_default=text("'queued'"))
    successful_count: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))
    failed_count: Mapped[int | None] = mapped_column(Integer, server_default=text("0"))
    error_log: Mapped[list[Any] | None] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    started_at: Mapped[datetime | None] = mapped_column(TSTZ)
    completed_at: Mapped[datetime | None] = mapped_column(TSTZ)
    created_at: Mapped[datetime | None] = created_at()
    updated_at: Mapped[datetime | None] = updated_at()
    file_deleted_at: Mapped[datetime | None] = mapped_column(TSTZ)  # 005


class AuditLog(Base):
    """006_audit_logs_partitioned_by_year: PARTITION BY RANGE (created_at), one partition
    per UTC year (audit_logs_yYYYY) and audit_logs_default; the key is (id, created_at)."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("idx_audit_logs_user", "user_id", text("created_at DESC")),
        Index("idx_audit_logs_resource", "resource_type", "resource_id"),
        Index("idx_audit_logs_created", text("created_at DESC")),
        {"postgresql_partition_by": "RANGE (created_at)"},
    )

    id: Mapped[int] = mapped_column(
        BigInteger, primary_key=True, server_default=text("nextval('audit_logs_id_seq'::regclass)")
    )
    user_id: Mapped[str | None] = mapped_column(
        String(50), ForeignKey("users.id", ondelete="SET NULL")
    )
    user_role: Mapped[UserRole | None] = mapped_column(user_role)
    action: Mapped[str] = mapped_column(String(100))
    resource_type: Mapped[str | None] = mapped_column(String(50))
    resource_id: Mapped[str | None] = mapped_column(String(50))
    ip_address: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any] | None] = metadata_column()
    created_at: Mapped[datetime] = mapped_column(TSTZ, primary_key=True, server_default=NOW)


class RequestExecution(Base):
    """003_request_execution: the runner's lease, claim and attempt counters per request
    (the seed's content_requests stays as the seed wrote it)."""

    __tablename__ = "request_execution"
    __table_args__ = (
        Index(
            "idx_request_execution_lease",
            "lease_expires_at",
            postgresql_where=text("lease_task_id IS NOT NULL"),
        ),
    )

    request_id: Mapped[str] = mapped_column(
        String(50), ForeignKey("content_requests.id", ondelete="CASCADE"), primary_key=True
    )
    stage: Mapped[str | None] = mapped_column(String(20))
    lease_task_id: Mapped[str | None] = mapped_column(String(255))
    lease_try: Mapped[int | None] = mapped_column(Integer)
    lease_expires_at: Mapped[datetime | None] = mapped_column(TSTZ)
    heartbeat_at: Mapped[datetime | None] = mapped_column(TSTZ)
    claimed_at: Mapped[datetime | None] = mapped_column(TSTZ)
    dispatched_at: Mapped[datetime | None] = mapped_column(TSTZ)
    deliveries: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    crashes: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
