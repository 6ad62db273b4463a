"""HTTP to Prometheus: connection, auth, TLS, retries, and the query API.

`prometheus-api-client`'s PrometheusConnect owns the HTTP session (headers, auth, TLS
verification, connection pool) and answers the small metadata calls. Range queries use the
same session but keep the body as bytes for matrix.parse_matrix: the client's
custom_query_range decodes with the standard json module (and its
MetricRangeDataFrame builds pandas objects per sample): bench/prometheus_bench.py measured
that path at 3x the wall time and 4x the CPU of this one, which also writes the warehouse.

Retries: connection errors, timeouts, HTTP 429 and 5xx are retried `retries` times with
exponential backoff (backoff_s x 2^attempt, capped at 30 s; a Retry-After header wins when
shorter than the cap). Other HTTP errors (400 bad query, 401/403, 422 execution errors) are
not retried; every failure becomes a one-line GpucostError naming the query.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from gpucost.errors import GpucostError
from gpucost.net import is_loopback
from gpucost.ingest.prometheus.matrix import Matrix, parse_matrix, parse_response, parse_vector

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class Connection:
    """Where Prometheus is and how to talk to it.

    headers: extra request headers, e.g. (("X-Scope-OrgID", "tenant-1"),) for Mimir/Cortex.
    bearer_token: sent as 'Authorization: Bearer <token>'. basic_auth: (user, password).
    ca_file: PEM bundle to verify the server with; insecure: skip verification.
    timeout_s: per request (connect and read); retries: extra attempts after a failure.
    """

    url: str
    bearer_token: str | None = None
    basic_auth: tuple[str, str] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    ca_file: str | None = None
    insecure: bool = False
    timeout_s: float = 60.0
    retries: int = 3
    backoff_s: float = 0.5
    pool_size: int = 8

    def __post_init__(self) -> None:
        parsed = urlparse(self.url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise GpucostError(f"--url must be an http(s) URL, got {self.url!r}")
        if self.bearer_token and self.basic_auth:
            raise GpucostError("use either a bearer token or basic auth, not both")


def _loopback(url: str) -> bool:
    return is_loopback(urlparse(url).hostname or "")


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    bytes: int = 0
    seconds: float = 0.0


class PromClient:
    """A Prometheus HTTP API client (thread-safe for concurrent GETs)."""

    def __init__(self, conn: Connection):
        from prometheus_api_client import PrometheusConnect

        self.conn = conn
        self.base = conn.url.rstrip("/")
        session = requests.Session()
        session.verify = conn.ca_file if conn.ca_file else not conn.insecure
        for name, value in conn.headers:
            session.headers[name] = value
        if conn.bearer_token:
            session.headers["Authorization"] = f"Bearer {conn.bearer_token}"
        if _loopback(conn.url):
            # on loopback, compressing costs more than the bytes it saves
            session.headers["Accept-Encoding"] = "identity"
        self.api = PrometheusConnect(url=self.base, session=session, auth=conn.basic_auth,
                                     retry=Retry(total=0, raise_on_status=False), timeout=conn.timeout_s)
        # PrometheusConnect mounted an adapter without retries (we retry ourselves); size its pool
        session.mount(self.base, HTTPAdapter(max_retries=Retry(total=0, raise_on_status=False),
                                             pool_connections=1, pool_maxsize=max(1, conn.pool_size)))
        self.session = session
        self.stats = Stats()
        self._lock = threading.Lock()

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> "PromClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transport --------------------------------------------------------------------------
    def get(self, path: str, params: dict, what: str) -> bytes:
        """GET base+path with retries; the body of a 2xx answer."""
        url = self.base + path
        attempts = self.conn.retries + 1
        cause = ""
        for attempt in range(attempts):
            if attempt:
                with self._lock:
                    self.stats.retries += 1
            t0 = time.perf_counter()
            wait = None
            try:
                r = self.session.get(url, params=params, auth=self.conn.basic_auth, timeout=self.conn.timeout_s)
            except requests.exceptions.SSLError as exc:
                raise GpucostError(f"{what}: TLS error talking to {self.base} ({_first_line(exc)}); "
                                   "use --ca-file or --insecure") from None
            except requests.exceptions.Timeout:
                cause = f"timed out after {self.conn.timeout_s:g} s"
            except requests.exceptions.ConnectionError as exc:
                cause = f"cannot connect to {self.base} ({_connection_cause(exc)})"
            else:
                body = r.content
                with self._lock:
                    self.stats.requests += 1
                    self.stats.bytes += len(body)
                    self.stats.seconds += time.perf_counter() - t0
                if r.ok:
                    return body
                detail = _api_error(body)
                if r.status_code in (401, 403):
                    raise GpucostError(f"{what}: Prometheus refused the credentials (HTTP {r.status_code}"
                                       f"{': ' + detail if detail else ''}); check the token, basic auth "
                                       "or headers")
                if r.status_code not in RETRY_STATUS:
                    raise GpucostError(f"{what}: HTTP {r.status_code} from Prometheus"
                                       f"{': ' + detail if detail else ''}")
                cause = f"HTTP {r.status_code}{': ' + detail if detail else ''}"
                wait = _retry_after(r.headers.get("Retry-After"))
            if attempt + 1 < attempts:
                backoff = min(MAX_BACKOFF_S, self.conn.backoff_s * 2 ** attempt)
                time.sleep(min(wait, MAX_BACKOFF_S) if wait is not None else backoff)
        raise GpucostError(f"{what}: {cause} (after {attempts} attempt{'s' if attempts > 1 else ''})")

    # -- API ----------------------------------------------------------------------------------
    def query_range(self, query: str, start_ms: int, end_ms: int, step_ms: int, what: str) -> Matrix:
        """/api/v1/query_range evaluated at start, start+step, ... <= end (ms timestamps)."""
        params = {"query": query, "start": _seconds(start_ms), "end": _seconds(end_ms),
                  "step": _seconds(step_ms)}
        grid = (start_ms, step_ms, (end_ms - start_ms) // step_ms + 1)
        return parse_matrix(self.get("/api/v1/query_range", params, what), what, grid)

    def query(self, query: str, at_s: float | None, what: str) -> list[tuple[dict[str, str], float]]:
        params = {"query": query}
        if at_s is not None:
            params["time"] = f"{at_s:.3f}"
        return parse_vector(self.get("/api/v1/query", params, what), what)

    def metric_names(self, match: str, start_s: float, end_s: float) -> set[str] | None:
        """Metric names of the series matching ``match`` in [start, end]
        (/api/v1/label/__name__/values); None when the server cannot answer that."""
        params = {"match[]": match, "start": f"{start_s:.3f}", "end": f"{end_s:.3f}"}
        try:
            data = parse_response(self.get("/api/v1/label/__name__/values", params, "metric names"),
                                  "metric names", list)
        except GpucostError as exc:
            if any(f"HTTP {code}" in str(exc) for code in (400, 404, 405, 422)):
                return None
            raise
        return {str(name) for name in data}

    def buildinfo(self) -> dict | None:
        """/api/v1/status/buildinfo data, or None when the server does not offer it."""
        try:
            return parse_response(self.get("/api/v1/status/buildinfo", {}, "buildinfo"), "buildinfo")
        except GpucostError as exc:
            if "HTTP 404" in str(exc) or "HTTP 405" in str(exc):
                return None
            raise

    def major_version(self) -> int | None:
        info = self.buildinfo()
        try:
            return int(str(info["version"]).split(".")[0]) if info else None
        except (KeyError, ValueError):
            return None


def _seconds(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _connection_cause(exc: BaseException) -> str:
    text = str(exc)
    for needle, say in (("Connection refused", "connection refused"), ("Name or service not known", "unknown host"),
                        ("Connection reset", "connection reset"), ("RemoteDisconnected", "connection closed"),
                        ("Connection aborted", "connection aborted")):
        if needle in text:
            return say
    return _first_line(exc)


def _api_error(body: bytes) -> str:
    try:
        data = parse_response(body, "")
    except GpucostError as exc:
        msg = str(exc)
        if "Prometheus answered" in msg:
            return msg.split("Prometheus answered ", 1)[1][:300]
        return body[:200].decode("utf-8", "replace").strip().splitlines()[0] if body.strip() else ""
    return str(data)[:200]


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
