"""Weekly report as people receive it: in Chromium, as a PDF, by e-mail and on S3.

Real components, all on loopback: headless Chromium (Playwright, /usr/bin/chromium), Chromium's
print-to-PDF and poppler's pdftoppm/pdfimages, an aiosmtpd SMTP server (AUTH; and STARTTLS
with a throw-away self-signed certificate), moto's S3 (tests/aws_fakes.AwsServer).

World: the hand world of tests/test_report.py, week 2026-W46 (spend $210, idle $70; four
charts: spend by state, per day, by team, idle by job). One CLI run
``report weekly --week 2026-W46 --pdf --email-to ... --s3 s3://reports/gpucost`` feeds the
module's tests.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import io
import ipaddress
import json
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from email import policy
from pathlib import Path

import numpy as np
import pytest

from aws_fakes import AwsServer, aws_env
from gpucost.cli import main
from gpucost.dashboard import formatting as fmt
from gpucost.errors import GpucostError
from gpucost.net import is_loopback as _loopback
from gpucost.report.deliver import SmtpConfig
from test_report import build_hand_world

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
SLUG = "gpucost-2026-W46"
CHARTS = ["spend-by-state", "spend-by-day", "cost-by-team", "idle-by-job"]
RECIPIENTS = ["platform@example.com", "finance@example.com"]
# The first SMTP server takes AUTH without TLS on loopback (aiosmtpd warns about exactly that).
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Inbox:
    """aiosmtpd handler + authenticator: keeps every message and every login."""

    messages: list = field(default_factory=list)
    logins: list = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content,
                              session.ssl is not None))
        return "250 OK"

    def __call__(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        self.logins.append((mechanism, auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret", handled=False)


@contextlib.contextmanager
def smtp_server(inbox: Inbox, **kwargs):
    from aiosmtpd.controller import Controller

    ctl = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=inbox, auth_required=True,
                     **kwargs)
    ctl.start()
    try:
        yield ctl
    finally:
        ctl.stop()


@dataclass
class Delivered:
    out: Path
    code: int
    stdout: str
    stderr: str
    inbox: Inbox
    objects: dict  # S3 key -> (bytes, content type)
    settings: object


@pytest.fixture(scope="module")
def charts_server():
    """One kaleido/Chromium for every report this module renders."""
    from gpucost.report.images import ImageRenderer

    with ImageRenderer() as renderer:
        yield renderer


@pytest.fixture(scope="module")
def delivered(tmp_path_factory, charts_server) -> Delivered:
    import boto3

    folder = tmp_path_factory.mktemp("delivery")
    settings = build_hand_world(folder / "w.duckdb")
    out = folder / "out"
    inbox = Inbox()
    with smtp_server(inbox, auth_require_tls=False) as smtp, AwsServer() as aws, \
            pytest.MonkeyPatch.context() as mp:
        aws_env(mp, aws.endpoint, folder)
        for name, value in {"GPUCOST_SMTP_HOST": "127.0.0.1", "GPUCOST_SMTP_PORT": str(smtp.port),
                            "GPUCOST_SMTP_USER": "reporter", "GPUCOST_SMTP_PASSWORD": "s3cret",
                            "GPUCOST_SMTP_FROM": "gpucost@example.com"}.items():
            mp.setenv(name, value)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="reports")
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(["--db", str(settings.db), "--config", str(folder / "gpucost.toml"), "report", "weekly",
                         "--week", "2026-W46", "--out", str(out), "--pdf", "--email-to", *RECIPIENTS,
                         "--s3", "s3://reports/gpucost/"])
        objects = {}
        for obj in s3.list_objects_v2(Bucket="reports").get("Contents", []):
            got = s3.get_object(Bucket="reports", Key=obj["Key"])
            objects[obj["Key"]] = (got["Body"].read(), got["ContentType"])
    return Delivered(out, code, stdout.getvalue(), stderr.getvalue(), inbox, objects, settings)


def test_cli_wrote_every_file(delivered):
    assert delivered.code == 0, delivered.stderr
    names = sorted(p.name for p in delivered.out.iterdir())
    assert names == sorted([f"{SLUG}.html", f"{SLUG}.md", f"{SLUG}.json", f"{SLUG}.pdf", f"{SLUG}-jobs.csv",
                            f"{SLUG}-teams.csv", f"{SLUG}-recommendations.csv",
                            *[f"{SLUG}-{c}.png" for c in CHARTS]])
    assert "GPU cost report 2026-W46 (fleet): $210 spend, 9.0 GPU-h, $70.00 idle" in delivered.stdout
    assert "e-mailed 1 report(s) to platform@example.com, finance@example.com" in delivered.stdout
    assert "uploaded 11 file(s) to s3://reports/gpucost/2026-W46/" in delivered.stdout


# ---------------------------------------------------------------- browser and PDF



def test_html_opens_in_chromium_without_errors(delivered, browser):
    r = json.loads((delivered.out / f"{SLUG}.json").read_text())
    page = browser.new_page(viewport={"width": 900, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda q: problems.append(f"failed {q.url[:60]}"))
    page.on("request", lambda q: problems.append(f"network {q.url}") if not q.url.startswith(("file:", "data:")) else None)
    try:
        page.goto((delivered.out / f"{SLUG}.html").as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("[...document.images].map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(images) == 4 and all(ok and w >= 1000 and h > 100 for _, ok, w, h in images), images
        assert page.title() == "GPU cost report 2026-W46 (fleet)"
        t = r["totals"]
        shown = {sel: page.inner_text(sel) for sel in (
            "#kpi-spend", "#kpi-spend-sub", "#kpi-gpu-hours", "#kpi-util", "#kpi-idle", "#kpi-idle-sub",
            "#state-active-usd", "#state-allocated_idle-share", "#state-stranded-usd", "#dq-no-data-share",
            "#rec-billed", "#rec-computed", "#rec-gap", "#recommendations-savings", "#dq-identity-gap")}
        assert shown == {
            "#kpi-spend": fmt.usd(t["spend_usd"]), "#kpi-spend-sub": "+200.0 % vs 2026-W45",
            "#kpi-gpu-hours": fmt.gpu_hours(t["gpu_hours"]), "#kpi-util": fmt.pct(t["util_pct"]),
            "#kpi-idle": "$70.00", "#kpi-idle-sub": "33.3 % of spend",
            "#state-active-usd": "$130", "#state-allocated_idle-share": fmt.share(60 / 210),
            "#state-stranded-usd": "$10.00", "#dq-no-data-share": "4.8 %",
            "#rec-billed": "$200", "#rec-computed": "$200", "#rec-gap": "-$10.00 (-5.0 %)",
            "#recommendations-savings": "$1,700", "#dq-identity-gap": "$0.00"}
        assert page.inner_text("#team-1").split("\t")[:1] == ["ml"]
        assert "research/notebook" in page.inner_text("#job-1")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-weekly.png"), full_page=True)
        assert problems == []
    finally:
        page.close()


def _ppm(path: Path) -> np.ndarray:
    """A binary PPM (P6, maxval 255) as an H x W x 3 uint8 array."""
    data = path.read_bytes()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    assert fields[0] == b"P6" and fields[3] == b"255"
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(data[pos + 1:pos + 1 + w * h * 3], np.uint8).reshape(h, w, 3)


def _pixels_like(img: np.ndarray, hex_colour: str, tol: int = 12) -> int:
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], np.int16)
    return int((np.abs(img.astype(np.int16) - rgb).max(axis=2) <= tol).sum())


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="needs poppler-utils (pdftoppm, pdfimages)")
def test_pdf_shows_the_charts(delivered, tmp_path):
    pdf = delivered.out / f"{SLUG}.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    listed = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    images = [line.split() for line in listed.splitlines()[2:] if line.strip()]
    # the four chart PNGs (rendered at scale 2: 1440 px wide); smask rows are their alpha
    assert sum(1 for row in images if row[2] == "image" and int(row[3]) == 1440) == 4, listed
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(ARTIFACTS / "report-weekly-pdf")], check=True)
    subprocess.run(["pdftoppm", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")], check=True)
    page1 = _ppm(next(tmp_path.glob("p*.ppm")))
    # Page 1 carries the spend-by-state bar and the per-day bars, drawn in the state colours.
    for colour in ("#0072B2", "#E69F00", "#D55E00"):  # active, allocated idle, unallocated
        assert _pixels_like(page1, colour) > 200, colour


# ---------------------------------------------------------------- e-mail

def _parts(msg):
    return {part.get_content_type(): part for part in msg.walk()}


def test_email_arrives_with_html_body_inline_charts_and_attachments(delivered):
    inbox = delivered.inbox
    assert [(login, pw) for _, login, pw in inbox.logins] == [(b"reporter", b"s3cret")]
    [(sender, rcpts, raw, tls)] = inbox.messages
    assert (sender, rcpts, tls) == ("gpucost@example.com", RECIPIENTS, False)
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "GPU cost 2026-W46 (fleet): $210 spent, $70.00 idle"
    assert msg["To"] == ", ".join(RECIPIENTS)
    assert msg.get_content_type() == "multipart/mixed"
    html = msg.get_body(("html",)).get_content()
    text = msg.get_body(("plain",)).get_content()
    assert "data:image" not in html and ">$210<" in html
    assert text.startswith("# GPU cost, week 2026-W46 (fleet)") and "| GPU spend | $210 | +200.0 % |" in text
    assert "![" not in text  # the plain-text part links no images
    inline = {p["Content-ID"].strip("<>"): p.get_content() for p in msg.walk() if p.get_content_type() == "image/png"}
    assert set(inline) == {f"{c}@gpucost" for c in CHARTS}
    for c in CHARTS:
        assert f'src="cid:{c}@gpucost"' in html
        assert inline[f"{c}@gpucost"] == (delivered.out / f"{SLUG}-{c}.png").read_bytes()
    attached = {p.get_filename(): p.get_content() for p in msg.iter_attachments()}
    assert set(attached) == {f"{SLUG}-jobs.csv", f"{SLUG}-teams.csv", f"{SLUG}-recommendations.csv", f"{SLUG}.pdf"}
    for name, body in attached.items():
        on_disk = (delivered.out / name).read_bytes()
        assert (body if isinstance(body, bytes) else body.encode()) == on_disk, name


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gpucost test SMTP")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_starttls_with_credentials(delivered, tmp_path, monkeypatch, capsys, charts_server):
    import ssl

    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts the test certificate
    inbox = Inbox()
    with smtp_server(inbox, tls_context=server_ctx, require_starttls=True) as smtp:
        env = {"GPUCOST_SMTP_HOST": "127.0.0.1", "GPUCOST_SMTP_PORT": str(smtp.port),
               "GPUCOST_SMTP_USER": "reporter", "GPUCOST_SMTP_PASSWORD": "s3cret", "GPUCOST_SMTP_STARTTLS": "true"}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = main(["--db", str(delivered.settings.db), "--config", str(delivered.settings.db.parent / "gpucost.toml"),
                     "report", "weekly", "--week", "2026-W46", "--out", str(tmp_path / "out"),
                     "--email-to", "ops@example.com"])
        assert code == 0, capsys.readouterr().err
        monkeypatch.setenv("GPUCOST_SMTP_PASSWORD", "wrong")
        code = main(["--db", str(delivered.settings.db), "--config", str(delivered.settings.db.parent / "gpucost.toml"),
                     "report", "weekly", "--week", "2026-W46", "--out", str(tmp_path / "out2"),
                     "--email-to", "ops@example.com"])
        err = capsys.readouterr().err
        assert code == 1 and err.startswith(f"gpucost: error: cannot send the report by e-mail via "
                                            f"127.0.0.1:{smtp.port}: (535"), err
    [(sender, rcpts, raw, tls)] = inbox.messages
    assert (sender, rcpts, tls) == (f"gpucost@{socket.getfqdn()}", ["ops@example.com"], True)
    # smtplib tries every mechanism both sides know (PLAIN, then LOGIN) before giving up
    assert inbox.logins[0][1:] == (b"reporter", b"s3cret")
    assert {login[1:] for login in inbox.logins[1:]} == {(b"reporter", b"wrong")}
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "GPU cost 2026-W46 (fleet): $210 spent, $70.00 idle"
    assert {p.get_filename() for p in msg.iter_attachments()} == {
        f"{SLUG}-jobs.csv", f"{SLUG}-teams.csv", f"{SLUG}-recommendations.csv"}  # no PDF asked for


def test_smtp_settings_from_the_environment():
    with pytest.raises(GpucostError, match="needs GPUCOST_SMTP_HOST"):
        SmtpConfig.from_env({})
    with pytest.raises(GpucostError, match="must be auto, true or false"):
        SmtpConfig.from_env({"GPUCOST_SMTP_HOST": "mail", "GPUCOST_SMTP_STARTTLS": "maybe"})
    with pytest.raises(GpucostError, match="both GPUCOST_SMTP_USER and GPUCOST_SMTP_PASSWORD"):
        SmtpConfig.from_env({"GPUCOST_SMTP_HOST": "mail", "GPUCOST_SMTP_USER": "u"})
    c = SmtpConfig.from_env({"GPUCOST_SMTP_HOST": "mail", "GPUCOST_SMTP_USER": "bot@example.com",
                             "GPUCOST_SMTP_PASSWORD": "x"})
    assert (c.port, c.starttls, c.sender) == (587, "auto", "bot@example.com")
    assert SmtpConfig.from_env({"GPUCOST_SMTP_HOST": "mail", "GPUCOST_SMTP_STARTTLS": "0"}).port == 25
    assert _loopback("127.0.0.1") and _loopback("::1") and not _loopback("smtp.example.com")


# ---------------------------------------------------------------- S3

def test_s3_upload(delivered):
    local = sorted(p.name for p in delivered.out.iterdir())
    assert sorted(delivered.objects) == [f"gpucost/2026-W46/{name}" for name in local]
    for key, (body, ctype) in delivered.objects.items():
        assert body == (delivered.out / key.rsplit("/", 1)[1]).read_bytes(), key
    assert delivered.objects[f"gpucost/2026-W46/{SLUG}.html"][1] == "text/html; charset=utf-8"
    assert delivered.objects[f"gpucost/2026-W46/{SLUG}.pdf"][1] == "application/pdf"


def test_bad_s3_uri_fails_before_any_work(delivered, tmp_path, capsys):
    code = main(["--db", str(delivered.settings.db), "report", "weekly", "--week", "2026-W46", "--out",
                 str(tmp_path / "o"), "--s3", "bucket/prefix"])
    assert code == 1
    assert capsys.readouterr().err == "gpucost: error: --s3 must look like s3://bucket/prefix, got 'bucket/prefix'\n"
    assert not (tmp_path / "o").exists()

