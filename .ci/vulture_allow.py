# Names vulture cannot see used, each with where the use is (vulture reads this file as
# code that uses them). Keep it short: a name here must be used by something outside
# Python's view, never merely unused.
# ruff: noqa
from pipeline.lesson import Lesson
from pipeline.providers import instant
from workers import beat

# Result rows: fields read by callers through attribute access on dataclasses that
# tests, the CLI or a dashboard print whole (dataclasses.asdict / rich tables).
from db import queries

queries.RecentActivity.last_viewed_at
queries.StudentEngagement.last_login_at
queries.ContentPopularity.view_count
queries.ContentPopularity.completion_count
Lesson.grade_band  # part of the stored script JSON (model_dump)

# RequestView fields an API service reads (and `content` by name, with getattr).
from pipeline import views

views.RequestView.captions_url
views.RequestView.transcript_url
views.RequestView.failed_stage
views.RequestView.signed_urls
views.RequestView.content_review
views.RequestView.notice

# Named by string: PROVIDER_FACTORY=pipeline.providers.instant:build_instant (bench/,
# tests) and the beat scheduler class in `vividly beat` / Celery's beat_scheduler.
instant.build_instant
beat.ResilientRedBeatScheduler
beat.ResilientRedBeatScheduler.lua_extend  # redbeat's lock reads it

# Attributes set on library objects (ONNX runtime options, PyAV streams and frames).
_.intra_op_num_threads
_.inter_op_num_threads
_.layout
_.bit_rate
_.pict_type
_.enable_cpu_mem_arena
_.enable_mem_pattern
_.graph_optimization_level
_.optimized_model_filepath
_.subtitle_header
_.layout_features  # fontTools subset options (scripts/emoji_font.py)
from tests import fakes

fakes.build  # PROVIDER_FACTORY=tests.fakes:build in the workers the tests start

# http.server calls a handler's do_<METHOD> by name (tests/bigquery_standin.py).
from tests import bigquery_standin

bigquery_standin.BaseHTTPRequestHandler.do_PUT
bigquery_standin.BaseHTTPRequestHandler.do_GET
bigquery_standin.BaseHTTPRequestHandler.do_POST
bigquery_standin.BaseHTTPRequestHandler.log_message
