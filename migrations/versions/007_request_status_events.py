"""Request status events: every committed status change is announced (LISTEN/NOTIFY)

Revision ID: 007
Revises: 006
Create Date: 2026-12-01

Deviation from the seed, with its reason (issue 12): API services follow a request's
progress live instead of polling its row. A trigger on content_requests sends a NOTIFY on
the channel `vividly_request_status` for each insert and each change of status. It is
the one place every status change passes through (the stages, the API, the watchdog,
retention, SQL run by hand), and PostgreSQL delivers a NOTIFY only when its transaction
commits, so an event never announces a change that was rolled back.

The payload is ids, statuses, a time and, once there is content, its locations: never
the query, a name or any other student text. (NOTIFY payloads are limited to 8,000 bytes;
this one is well under 1,000.)
"""

from __future__ import annotations

from alembic import op

revision = "007"
down_revision = "006"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE FUNCTION notify_request_status() RETURNS trigger AS $$
DECLARE
    content jsonb;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status THEN
        RETURN NULL;
    END IF;
    IF NEW.generated_content_id IS NOT NULL
       AND NEW.status IN ('fast_path_ready', 'generating_video', 'completed') THEN
        SELECT jsonb_strip_nulls(jsonb_build_object(
                   'content_type', g.content_type,
                   'script_url', g.script_url,
                   'audio_url', g.audio_url,
                   'video_url', g.video_url,
                   'thumbnail_url', g.thumbnail_url,
                   'captions_url', g.generation_metadata #>> '{narration,captions_url}',
                   'transcript_url', g.generation_metadata #>> '{narration,transcript_url}',
                   'lesson_page_url', g.generation_metadata #>> '{narration,lesson_page_url}'))
          INTO content
          FROM generated_content g WHERE g.id = NEW.generated_content_id;
    END IF;
    PERFORM pg_notify('vividly_request_status', jsonb_build_object(
        'id', NEW.id,
        'from', CASE WHEN TG_OP = 'UPDATE' THEN OLD.status::text END,
        'to', NEW.status::text,
        'at', clock_timestamp(),
        'content', content)::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.execute(FUNCTION)
    op.execute(
        "CREATE TRIGGER content_requests_status_events "
        "AFTER INSERT OR UPDATE OF status ON content_requests "
        "FOR EACH ROW EXECUTE FUNCTION notify_request_status()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS content_requests_status_events ON content_requests")
    op.execute("DROP FUNCTION IF EXISTS notify_request_status()")
