"""Optional access control for shared deployments of the dashboard.

Two modes (``DashboardAuth``), checked before every request except ``GET /healthz``:

- basic: HTTP Basic authentication against one username and password (compared in
  constant time). ``DashboardAuth.from_env()`` reads them from ``GPUCOST_DASHBOARD_USER``
  and ``GPUCOST_DASHBOARD_PASSWORD``. Use it behind TLS (a reverse proxy): Basic sends the
  password with every request.
- trusted header: an authenticating reverse proxy (oauth2-proxy, an ingress with auth)
  puts the signed-in user in a header such as ``X-Forwarded-User``; a request without a
  non-empty value is refused. Only safe when the app is reachable through that proxy alone
  (keep the default bind address 127.0.0.1, or a network policy), since anyone who can reach
  the app directly can set the header.

``/metrics`` is protected like the pages (Prometheus: ``basic_auth`` in the scrape config).
Without auth (the default) the app relies on binding to 127.0.0.1.
"""

from __future__ import annotations

import base64
import hmac
import os
from dataclasses import dataclass
from typing import Mapping

from flask import Flask, Response, request

from gpucost.errors import GpucostError

USER_ENV = "GPUCOST_DASHBOARD_USER"
PASSWORD_ENV = "GPUCOST_DASHBOARD_PASSWORD"
OPEN_PATHS = ("/healthz",)


@dataclass(frozen=True)
class DashboardAuth:
    """Basic auth (``username`` + ``password``) or a trusted proxy header (``user_header``)."""

    username: str | None = None
    password: str | None = None
    user_header: str | None = None
    realm: str = "gpucost"

    def __post_init__(self) -> None:
        basic = self.username is not None or self.password is not None
        if basic and not (self.username and self.password):
            raise GpucostError("dashboard basic auth needs both a username and a non-empty password")
        if basic and self.user_header:
            raise GpucostError("choose one dashboard auth mode: basic auth or a trusted user header")
        if not basic and not self.user_header:
            raise GpucostError("dashboard auth needs a username and password or a user header")
        if ":" in (self.username or ""):
            raise GpucostError("the dashboard username must not contain ':'")

    @property
    def mode(self) -> str:
        return "header" if self.user_header else "basic"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None,
                 user_header: str | None = None) -> "DashboardAuth | None":
        """Basic auth from GPUCOST_DASHBOARD_USER / GPUCOST_DASHBOARD_PASSWORD when either is
        set, else the trusted header when ``user_header`` is given, else None (no auth)."""
        env = os.environ if env is None else env
        user, password = env.get(USER_ENV), env.get(PASSWORD_ENV)
        if user or password:
            return cls(username=user or None, password=password or None)
        if user_header:
            return cls(user_header=user_header)
        return None

    def user(self, headers: Mapping[str, str], authorization: str | None) -> str | None:
        """The authenticated user name for a request, or None when it is refused."""
        if self.user_header:
            value = (headers.get(self.user_header) or "").strip()
            return value or None
        if not authorization or not authorization.lower().startswith("basic "):
            return None
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        user, sep, password = decoded.partition(":")
        ok_user = hmac.compare_digest(user.encode(), (self.username or "").encode())
        ok_password = hmac.compare_digest(password.encode(), (self.password or "").encode())
        return user if sep and ok_user and ok_password else None


def install(server: Flask, auth: DashboardAuth | None) -> None:
    """Refuse unauthenticated requests to ``server`` (401 for basic, 403 for the header)."""
    if auth is None:
        return

    @server.before_request
    def _require_auth():  # noqa: ANN202 - Flask hook
        if request.path in OPEN_PATHS:
            return None
        if auth.user(request.headers, request.headers.get("Authorization")) is not None:
            return None
        if auth.mode == "basic":
            return Response("authentication required\n", 401,
                            {"WWW-Authenticate": f'Basic realm="{auth.realm}", charset="UTF-8"',
                             "Content-Type": "text/plain; charset=utf-8"})
        return Response(f"forbidden: missing {auth.user_header} header (sign in through the proxy)\n",
                        403, {"Content-Type": "text/plain; charset=utf-8"})
