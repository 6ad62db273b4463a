"""Deliver written reports: e-mail over SMTP and upload to S3.

SMTP settings come from the environment (never the command line, so that a password does not
show in `ps` or shell history):

    GPUCOST_SMTP_HOST      required for --email-to
    GPUCOST_SMTP_PORT      default 587 (25 when STARTTLS is off); 465 means implicit TLS
    GPUCOST_SMTP_USER      with PASSWORD: AUTH LOGIN/PLAIN after TLS
    GPUCOST_SMTP_PASSWORD
    GPUCOST_SMTP_FROM      default USER when it is an address, else gpucost@<this host's FQDN>
    GPUCOST_SMTP_STARTTLS  auto (default: upgrade when the server offers it) | true (require) | false

Credentials are never sent over a connection that is not TLS unless the server is on
loopback. TLS verifies the server against the system CAs (``SSL_CERT_FILE`` adds one).

A mail is multipart/mixed: multipart/alternative (text/plain = the Markdown summary;
multipart/related = the HTML with its charts as inline PNG parts referenced by ``cid:``),
then the CSVs (and the PDF when made) as attachments.

S3: every file of a report goes to ``s3://bucket/prefix/<ISO week>/<file name>`` with boto3's
default credentials chain and endpoint (``AWS_ENDPOINT_URL`` for S3-compatible stores).
"""

from __future__ import annotations

import mimetypes
import os
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Mapping, Sequence

from gpucost.dashboard import formatting as fmt
from gpucost.errors import GpucostError
from gpucost.net import is_loopback
from gpucost.report.files import Written
from gpucost.report.images import Chart
from gpucost.report.render import html, markdown

STARTTLS_MODES = {"auto": "auto", "true": "true", "1": "true", "yes": "true",
                  "false": "false", "0": "false", "no": "false"}
TIMEOUT_S = 30


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    user: str | None
    password: str | None
    sender: str
    starttls: str  # 'auto' | 'true' | 'false'

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "SmtpConfig":
        env = os.environ if env is None else env
        host = env.get("GPUCOST_SMTP_HOST", "").strip()
        if not host:
            raise GpucostError("--email-to needs GPUCOST_SMTP_HOST (and optionally GPUCOST_SMTP_PORT, _USER, "
                               "_PASSWORD, _FROM, _STARTTLS) in the environment")
        mode = STARTTLS_MODES.get(env.get("GPUCOST_SMTP_STARTTLS", "auto").strip().lower())
        if mode is None:
            raise GpucostError(f"GPUCOST_SMTP_STARTTLS must be auto, true or false, "
                               f"got {env['GPUCOST_SMTP_STARTTLS']!r}")
        port_text = env.get("GPUCOST_SMTP_PORT", "").strip() or ("25" if mode == "false" else "587")
        try:
            port = int(port_text)
        except ValueError:
            raise GpucostError(f"GPUCOST_SMTP_PORT is not a port number: {port_text!r}") from None
        user = env.get("GPUCOST_SMTP_USER") or None
        password = env.get("GPUCOST_SMTP_PASSWORD") or None
        if bool(user) != bool(password):
            raise GpucostError("set both GPUCOST_SMTP_USER and GPUCOST_SMTP_PASSWORD, or neither")
        sender = env.get("GPUCOST_SMTP_FROM") or (user if user and "@" in user else f"gpucost@{socket.getfqdn()}")
        return cls(host, port, user, password, sender, mode)


def subject(w: Written) -> str:
    r = w.report
    scope = f"team {r.team}" if r.team else "fleet"
    if not r.has_data:
        return f"GPU cost {r.week} ({scope}): no GPU usage"
    return (f"GPU cost {r.week} ({scope}): {fmt.usd(r.totals.spend_usd)} spent, "
            f"{fmt.usd(r.totals.idle_usd)} idle")


def cid(chart: Chart) -> str:
    return f"{chart.name}@gpucost"


def build_message(w: Written, sender: str, recipients: Sequence[str]) -> EmailMessage:
    """The mail for one written report (see the module docstring for its MIME structure)."""
    r = w.report
    msg = EmailMessage()
    msg["Subject"] = subject(w)
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid(domain="gpucost")
    msg.set_content(markdown(r))
    msg.add_alternative(html(r, w.charts, image_src=lambda c: f"cid:{cid(c)}"), subtype="html")
    related = msg.get_payload()[1]
    for chart in w.charts.values():
        related.add_related(chart.png, maintype="image", subtype="png", cid=f"<{cid(chart)}>",
                            filename=f"{chart.name}.png", disposition="inline")
    for path in w.attachments:
        ctype = "application/pdf" if path.suffix == ".pdf" else "text/csv"
        maintype, subtype = ctype.split("/")
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    return msg


def send_email(reports: Sequence[Written], recipients: Sequence[str], config: SmtpConfig) -> int:
    """Send one mail per report over one SMTP session; returns the number sent."""
    where = f"{config.host}:{config.port}"
    try:
        if config.port == 465:
            server: smtplib.SMTP = smtplib.SMTP_SSL(config.host, config.port, timeout=TIMEOUT_S,
                                                    context=ssl.create_default_context())
            secure = True
        else:
            server = smtplib.SMTP(config.host, config.port, timeout=TIMEOUT_S)
            secure = False
        with server:
            server.ehlo()
            if not secure and config.starttls != "false":
                if server.has_extn("starttls"):
                    server.starttls(context=ssl.create_default_context())
                    server.ehlo()
                    secure = True
                elif config.starttls == "true":
                    raise GpucostError(f"SMTP server {where} does not offer STARTTLS "
                                       "(GPUCOST_SMTP_STARTTLS=true)")
            if config.user:
                if not secure and not is_loopback(config.host):
                    raise GpucostError(f"refusing to send SMTP credentials to {where} without TLS "
                                       "(the server offers no STARTTLS, or GPUCOST_SMTP_STARTTLS=false)")
                server.login(config.user, config.password or "")
            for w in reports:
                refused = server.send_message(build_message(w, config.sender, recipients),
                                              from_addr=config.sender, to_addrs=list(recipients))
                if refused:
                    raise GpucostError(f"SMTP server {where} refused recipient(s) {', '.join(sorted(refused))}")
    except GpucostError:
        raise
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GpucostError(f"cannot send the report by e-mail via {where}: {text}") from None
    return len(reports)


def parse_s3(uri: str) -> tuple[str, str]:
    """'s3://bucket/some/prefix/' -> ('bucket', 'some/prefix')."""
    if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
        raise GpucostError(f"--s3 must look like s3://bucket/prefix, got {uri!r}")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix.strip("/")


def upload_s3(reports: Sequence[Written], uri: str, session=None) -> list[str]:
    """Upload every file of every report; returns the s3:// URIs written."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = parse_s3(uri)
    s3 = (session or boto3.session.Session()).client("s3")
    done = []
    for w in reports:
        for path in w.files:
            key = "/".join(p for p in (prefix, w.report.week, path.name) if p)
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if ctype.startswith("text/") or ctype == "application/json":
                ctype += "; charset=utf-8"
            try:
                s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), ContentType=ctype)
            except (BotoCoreError, ClientError) as exc:
                raise GpucostError(f"cannot upload {path.name} to s3://{bucket}/{key}: "
                                   f"{str(exc).splitlines()[0]}") from None
            done.append(f"s3://{bucket}/{key}")
    return done
