"""Fixtures shared by all tests; the helpers behind them live in tests/support.py.

The pipeline fixtures (database, broker, worker, storage) point this process's settings
at scratch resources before anything reads them: see tests/support.configure_test_env.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support import (
    TEST_ENV,
    WorkerProcess,
    configure_test_env,
    migrate,
    run_seed,
    scratch_database,
)

configure_test_env()


@pytest.fixture
def empty_db() -> Iterator[str]:
    """The name of a fresh, empty database, dropped after the test."""
    with scratch_database() as name:
        yield name


@pytest.fixture
def migrated_db() -> Iterator[str]:
    """A fresh database migrated to head (no seed data)."""
    with scratch_database() as name:
        migrate(name)
        yield name


@pytest.fixture(scope="session")
def seeded_db() -> Iterator[str]:
    """One database for the session, migrated and seeded; tests add their own rows."""
    with scratch_database("vividly_seeded") as name:
        migrate(name)
        run_seed(name)
        yield name


@pytest.fixture(scope="session")
def pipeline_db() -> Iterator[str]:
    """The database the pipeline settings point at: migrated and seeded once."""
    with scratch_database(name=TEST_ENV.database) as name:
        migrate(name)
        run_seed(name)
        yield name


@pytest.fixture(scope="session")
def worker(pipeline_db: str) -> Iterator[WorkerProcess]:
    """A real Celery worker process (prefork, 2 children) on the test broker."""
    with WorkerProcess.start() as proc:
        yield proc


@pytest.fixture
def fakes(worker: WorkerProcess) -> Iterator[None]:
    """Call counters and failure switches of the test providers, reset for each test."""
    from tests import fakes

    fakes.reset()
    yield
    fakes.reset()


@pytest.fixture(scope="session")
async def ctx(pipeline_db: str) -> AsyncIterator[object]:
    """A pipeline Context (engine, providers) in the test process, for running jobs."""
    from db.session import create_engine
    from pipeline.context import Context
    from pipeline.providers.factory import build_providers
    from pipeline.settings import get_settings

    settings = get_settings()
    engine = create_engine(settings.database_url)
    yield Context(settings, engine, build_providers(settings), TEST_ENV.tmp)
    await engine.dispose()


@pytest.fixture(scope="session")
async def api(pipeline_db: str) -> AsyncIterator[object]:
    """The pipeline's Python API, as an API service would use it."""
    from db.session import create_engine
    from pipeline.providers.factory import open_storage
    from pipeline.settings import get_settings
    from workers.client import pipeline_api

    engine = create_engine(get_settings().database_url)
    yield pipeline_api(engine, open_storage(get_settings()))
    await engine.dispose()


@pytest.fixture(scope="session")
async def client(pipeline_db: str) -> AsyncIterator[object]:
    """VividlyClient, as an API service holds it (its own engine, broker connection and
    status-event listener); a short resync period, so a missed event shows quickly."""
    from workers.client import VividlyClient

    async with VividlyClient(resync_seconds=5.0) as c:
        yield c


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """An in-memory GCS emulator on a free loopback port, with a bucket "vividly-test";
    yields its endpoint, "http://127.0.0.1:PORT".

    Clients reach it through client_options={"api_endpoint": endpoint} with anonymous
    credentials, so STORAGE_EMULATOR_HOST is not set: it would also redirect other clients.
    """
    import socket

    from gcp_storage_emulator.server import create_server

    # Ask the OS for a free port, then hand it to the emulator: given port 0, its public API
    # would not tell us which port it bound.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket="vividly-test")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bigquery() -> Iterator[object]:
    """A local stand-in of BigQuery's load-job API (tests/bigquery_standin.py), for the
    real google-cloud-bigquery client; fresh for each test."""
    from tests.bigquery_standin import BigQueryStandIn

    standin = BigQueryStandIn()
    try:
        yield standin
    finally:
        standin.close()


@pytest.fixture
def google() -> Iterator[object]:
    """Local stand-ins of the Gemini API and Cloud Text-to-Speech (tests/google_standins.py),
    for the real google-genai and google-cloud-texttospeech clients; fresh for each test."""
    from tests.google_standins import GoogleStandIns

    standins = GoogleStandIns()
    try:
        yield standins
    finally:
        standins.close()


@pytest.fixture(scope="session")
def signing_credentials():
    """A throwaway service-account key: anonymous credentials cannot sign URLs."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return service_account.Credentials.from_service_account_info(
        {
            "type": "service_account",
            "private_key": pem,
            "client_email": "test@vividly-local.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token",
            "project_id": "vividly-local",
            "private_key_id": "x",
            "client_id": "1",
        }
    )
