"""A local stand-in of the BigQuery REST API's load jobs, for the real
google-cloud-bigquery client: multipart and resumable uploads to
`/upload/bigquery/v2/projects/{p}/jobs`, `GET /bigquery/v2/projects/{p}/jobs/{id}`, and
a job id that exists already answered 409, as BigQuery does. Loaded rows are kept per
table for the tests to read; `fail_next(n, status)` makes the next n requests fail."""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_JOBS = re.compile(r"^/(?:upload/)?bigquery/v2/projects/([^/]+)/jobs(?:/([^/?]+))?$")


class BigQueryStandIn:
    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.rows: dict[str, list[dict[str, Any]]] = {}  # "dataset.table" -> rows loaded
        self.requests: list[str] = []
        self._pending: dict[str, tuple[dict[str, Any], bytearray]] = {}
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, n: int, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * n)

    def loaded(self, table: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.rows.get(table, []))

    # ---- the API ---------------------------------------------------------------------

    def _load(self, project: str, resource: dict[str, Any], data: bytes) -> tuple[int, Any]:
        job_id = resource.get("jobReference", {}).get("jobId") or uuid.uuid4().hex
        with self._lock:
            if job_id in self.jobs:
                return 409, _error(409, f"Already Exists: Job {project}:{job_id}", "duplicate")
            load = resource["configuration"]["load"]
            dest = load["destinationTable"]
            if load.get("sourceFormat") != "NEWLINE_DELIMITED_JSON":
                return 400, _error(400, "sourceFormat must be NEWLINE_DELIMITED_JSON", "invalid")
            rows = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
            key = f"{dest['datasetId']}.{dest['tableId']}"
            self.rows.setdefault(key, []).extend(rows)
            job = {
                **resource,
                "kind": "bigquery#job",
                "id": f"{project}:{job_id}",
                "jobReference": {"projectId": project, "jobId": job_id, "location": "US"},
                "status": {"state": "DONE"},
                "statistics": {"load": {"outputRows": str(len(rows))}},
            }
            self.jobs[job_id] = job
            return 200, job

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _failure(self) -> bool:
                with standin._lock:
                    status = standin._failures.pop(0) if standin._failures else None
                if status is None:
                    return False
                self._reply(status, _error(status, "stand-in failure", "backendError"))
                return True

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                standin.requests.append(f"GET {self.path}")
                if self._failure():
                    return
                m = _JOBS.match(urlsplit(self.path).path)
                job = standin.jobs.get(m.group(2)) if m and m.group(2) else None
                if job is None:
                    self._reply(404, _error(404, "Not found: Job", "notFound"))
                else:
                    self._reply(200, job)

            def do_POST(self) -> None:  # noqa: N802
                standin.requests.append(f"POST {self.path}")
                body = self._body()
                if self._failure():
                    return
                parts = urlsplit(self.path)
                m = _JOBS.match(parts.path)
                kind = parse_qs(parts.query).get("uploadType", [""])[0]
                if not m or kind not in ("multipart", "resumable"):
                    self._reply(404, _error(404, "unknown path", "notFound"))
                    return
                if kind == "multipart":
                    resource, data = _multipart(self.headers.get("Content-Type", ""), body)
                    self._reply(*standin._load(m.group(1), resource, data))
                    return
                upload_id = uuid.uuid4().hex
                with standin._lock:
                    standin._pending[upload_id] = (json.loads(body), bytearray())
                location = f"{standin.url}{parts.path}?uploadType=resumable&upload_id={upload_id}"
                self._reply(200, None, {"Location": location})

            def do_PUT(self) -> None:  # noqa: N802
                standin.requests.append(f"PUT {self.path}")
                chunk = self._body()
                if self._failure():
                    return
                parts = urlsplit(self.path)
                upload_id = parse_qs(parts.query).get("upload_id", [""])[0]
                with standin._lock:
                    pending = standin._pending.get(upload_id)
                if pending is None:
                    self._reply(404, _error(404, "no such upload", "notFound"))
                    return
                resource, data = pending
                data.extend(chunk)
                total = (self.headers.get("Content-Range") or "").rpartition("/")[2]
                if total not in ("*", "") and len(data) < int(total):
                    self._reply(308, None, {"Range": f"bytes=0-{len(data) - 1}"})
                    return
                with standin._lock:
                    standin._pending.pop(upload_id, None)
                m = _JOBS.match(parts.path)
                self._reply(*standin._load(m.group(1) if m else "", resource, bytes(data)))

        return Handler


def _error(code: int, message: str, reason: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "errors": [{"reason": reason}]}}


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes]:
    """The job resource and the data of a multipart/related upload."""
    raw = b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    resource_part, data_part = list(message.iter_parts())
    resource = json.loads(resource_part.get_payload(decode=True))
    return resource, data_part.get_payload(decode=True)
