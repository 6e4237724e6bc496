"""Settings: the only place that reads the environment (through pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.costs import DEFAULT_PRICES

# The passwords docker-compose.yml and the README show as examples: usable by anyone who
# read them, so a deployment outside the dev profile refuses to start with them.
EXAMPLE_PASSWORDS = frozenset({"vividly", "change-me", "secret", "password", "postgres"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # "dev" (a laptop, CI, the demo) or "production" (what docker-compose.yml runs unless
    # told otherwise); production refuses the example passwords.
    vividly_env: Literal["dev", "production"] = "dev"

    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/vividly"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # file:///abs/dir for a local directory, gs://bucket for Google Cloud Storage.
    storage_url: str = "file://./var/storage"
    # Only set when talking to a GCS emulator (STORAGE_EMULATOR_HOST is read by the client too).
    storage_emulator_host: str | None = None
    # Service-account JSON used to sign V4 URLs; None means "use the ambient credentials".
    gcs_credentials_file: str | None = None
    # Retention archives (JSON lines) go here, never to the content storage that students
    # get signed URLs for: file:///abs/dir or gs://bucket (a bucket with its own IAM).
    archive_url: str = "file://./var/archive"
    # Retention archives of requests and feedback are also loaded into BigQuery when a
    # dataset is set (off by default); the API endpoint is for a local stand-in.
    bigquery_dataset: str | None = None
    bigquery_project: str | None = None
    bigquery_api_endpoint: str | None = None
    # An uploaded student CSV is deleted when its job ends (0), or this many days later.
    upload_file_retention_days: int = Field(default=0, ge=0)
    # Soft-deleted requests lose their query and clarification text this long after.
    request_scrub_after_days: int = Field(default=30, ge=0)
    # V4 signed URLs live at most 7 days.
    signed_url_ttl_seconds: int = Field(default=3600, ge=1, le=604_800)

    # "module:function" returning pipeline.context.Providers; tests and benchmarks swap in
    # stand-ins for the providers at the edge of the world (AI, TTS) this way.
    provider_factory: str = "pipeline.providers.factory:build_default"
    # "semantic": sentence embeddings (all-MiniLM-L6-v2, ONNX) plus lexical matching;
    # "lexical": keyword matching only, no model.
    # "gemini": Gemini chooses among the semantic resolver's candidates (needs GEMINI_*).
    nlu_provider: Literal["lexical", "semantic", "gemini"] = "semantic"
    # "template": offline, from catalog facts; "gemini": written by Gemini from them.
    script_provider: Literal["template", "gemini"] = "template"
    # "piper": offline neural voice (piper-tts, the packaged "joe" voice); "espeak": offline,
    # robotic but ~6x faster (tests that do not listen); "google": Google Cloud
    # Text-to-Speech (application credentials).
    speech_provider: Literal["piper", "espeak", "google"] = "piper"
    # Where the worker's voice process listens, set by the worker for its pool children
    # (workers/voice.py); unset, a process narrating with Piper loads the voice itself.
    voice_address: str | None = None
    gemini_api_key: str | None = None
    gemini_model: str = "gemini-2.5-flash"
    gemini_base_url: str | None = None  # a local stand-in; None: Google's endpoint
    # Per call; each below its stage's soft time limit (nlu 25 s, script 110 s), so a
    # slow answer ends as a transient error the task retries, not as a killed stage.
    gemini_timeout_seconds: float = Field(default=20.0, gt=0)
    gemini_script_timeout_seconds: float = Field(default=90.0, gt=0)
    tts_voice: str = "en-US-Neural2-F"
    tts_language_code: str = "en-US"
    tts_speaking_rate: float = Field(default=1.0, ge=0.25, le=4.0)
    tts_api_endpoint: str | None = None  # a local stand-in; None: Google's endpoint
    # Cluster-wide, per provider (workers/guard.py): "N/minute", "N/5 seconds"…
    gemini_rate_limit: str = "60/minute"
    tts_rate_limit: str = "300/minute"
    # A district's daily budget for generated lessons (USD); its metadata.daily_budget_usd
    # wins. Past it, cache misses wait for tomorrow or are refused (cache hits served).
    district_daily_budget_usd: float | None = Field(default=None, ge=0)
    budget_exhausted: Literal["wait", "refuse"] = "refuse"
    # The content review gate: this many report_issue feedbacks since the last review
    # flag a lesson; a flagged lesson is never served from the cache, and a new request
    # for it regenerates it ("regenerate") or waits until staff approve it ("wait").
    review_reports_to_flag: int = Field(default=1, ge=1)
    # Where traces go (workers/tracing.py): none, otlp (OTEL_EXPORTER_OTLP_ENDPOINT), console.
    trace_exporter: Literal["none", "otlp", "console"] = "none"
    review_flagged: Literal["regenerate", "wait"] = "regenerate"
    # USD per million tokens / characters, for generation_metadata's estimated cost.
    price_table: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    # A provider's breaker opens after this many transient failures in a row, for this long.
    provider_failures_to_open: int = Field(default=5, ge=1)
    provider_open_seconds: float = Field(default=30.0, gt=0)
    workdir: str = "/tmp/vividly-work"
    # Where stages make their temporary folders, never shared between machines or
    # containers; empty: in /dev/shm where there is one, else WORKDIR/scratch
    # (pipeline/scratch.py).
    scratch_dir: str = ""

    # Below this confidence the request waits in needs_clarification. The semantic resolver's
    # confidence was tuned for 0.45 on tests/data/nlu_labelled.jsonl (see nlu_semantic.py).
    nlu_confidence_threshold: float = Field(default=0.45, ge=0.0, le=1.0)
    # Longer questions are refused at submit (the semantic NLU reads 256 tokens anyway).
    max_query_chars: int = Field(default=2000, ge=1)

    # Attempts per stage (first try included), counted on the row. Worst case per stage
    # is task_max_attempts x provider_attempts provider calls (the speech engine's quick
    # in-provider retries).
    task_max_attempts: int = Field(default=4, ge=1)
    provider_attempts: int = Field(default=3, ge=1)
    retry_backoff_base_seconds: float = 2.0
    retry_backoff_max_seconds: float = 60.0

    # Durable execution (SPEC rules 3-6). A worker holds a lease this long on the request
    # it works on and renews it every lease_seconds / 3 for as long as the stage runs, so
    # a killed worker's request is taken up again within a lease, whatever the stage's
    # hard limit. Lease times come from the database clock.
    lease_seconds: float = Field(default=20.0, gt=0)
    # A stage whose claims died (the worker crashed on it) this many times fails the
    # request: a message that kills its worker is not redelivered forever.
    poison_max_crashes: int = Field(default=3, ge=1)
    # The watchdog sweeps this often; a request whose task was sent longer ago than
    # watchdog_lost_after_seconds, that nobody claimed since and whose queue holds no
    # older message, has lost its message and is dispatched again.
    watchdog_period_seconds: float = Field(default=60.0, gt=0)
    watchdog_lost_after_seconds: float = Field(default=120.0, gt=0)
    # Server-side limits on every database session: a statement or lock wait that hangs,
    # or a transaction left open by a dead coroutine, ends instead of wedging a worker.
    db_statement_timeout_ms: int = Field(default=30_000, ge=0)
    db_lock_timeout_ms: int = Field(default=10_000, ge=0)
    db_idle_in_transaction_timeout_ms: int = Field(default=60_000, ge=0)

    metrics_port: int = 9808
    # The workers' /metrics endpoint binds here: loopback by default, 0.0.0.0 in compose.
    metrics_addr: str = "127.0.0.1"
    log_level: str = "INFO"
    log_json: bool = True

    flower_basic_auth: str | None = None  # "user:password"

    @model_validator(mode="after")
    def _no_example_passwords_in_production(self) -> Settings:
        if self.vividly_env != "production":
            return self
        weak = []
        if (urlsplit(self.database_url).password or "") in EXAMPLE_PASSWORDS:
            weak.append("POSTGRES_PASSWORD (in DATABASE_URL)")
        if self.flower_basic_auth and self.flower_basic_auth.partition(":")[2] in (
            EXAMPLE_PASSWORDS | {""}
        ):
            weak.append("FLOWER_BASIC_AUTH")
        if weak:
            raise ValueError(
                f"{' and '.join(weak)} still hold an example password; set real ones, or "
                "VIVIDLY_ENV=dev for a local stack"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
