"""`gpucost report weekly`: the weekly GPU cost report as HTML, Markdown, CSV, JSON and PDF,
optionally e-mailed (SMTP settings from GPUCOST_SMTP_* variables) and uploaded to S3."""

from __future__ import annotations

import argparse
from pathlib import Path

from gpucost.commands.args import add_command, global_options
from gpucost.settings import Settings


def iso_week(text: str):
    from gpucost.report.week import IsoWeek

    try:
        return IsoWeek.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub) -> None:
    parser = sub.add_parser("report", help="reports: weekly cost and waste",
                            description="Reports built from the warehouse (read-only).")
    global_options(parser)
    kinds = parser.add_subparsers(dest="report_kind", required=True, metavar="KIND")
    weekly = add_command(kinds, "weekly", "the weekly GPU cost report (HTML, Markdown, CSV, JSON, PDF)", run)
    weekly.add_argument("--week", type=iso_week, default=None,
                        help="ISO week, e.g. 2026-W47 (default: the last complete week in the warehouse)")
    weekly.add_argument("--out", type=Path, default=Path("reports"), help="output folder (default ./reports)")
    weekly.add_argument("--team", default=None,
                        help="one team's report, or 'all' for one report per team (default: the fleet)")
    weekly.add_argument("--pdf", action="store_true", help="also print the HTML to PDF (headless Chromium)")
    weekly.add_argument("--email-to", nargs="+", action="extend", metavar="ADDR", default=None,
                        help="e-mail the report(s); SMTP from GPUCOST_SMTP_HOST/PORT/USER/PASSWORD/FROM/STARTTLS")
    weekly.add_argument("--s3", metavar="s3://BUCKET/PREFIX", default=None,
                        help="upload every file to s3://BUCKET/PREFIX/<week>/")


def run(settings: Settings, args: argparse.Namespace) -> None:
    from gpucost.dashboard import formatting as fmt
    from gpucost.report.deliver import SmtpConfig, parse_s3, send_email, upload_s3
    from gpucost.report.weekly import generate

    # Check delivery settings before any work, so a typo fails in a second, not after rendering.
    smtp = SmtpConfig.from_env() if args.email_to else None
    if args.s3:
        parse_s3(args.s3)
    written = generate(settings, args.out, week=args.week, team=args.team, pdf=args.pdf)
    if not written:
        print(f"no team had GPU usage in the week: nothing written to {args.out}")
        return
    for w in written:
        r = w.report
        head = (f"{fmt.usd(r.totals.spend_usd)} spend, {fmt.gpu_hours(r.totals.gpu_hours)}, "
                f"{fmt.usd(r.totals.idle_usd)} idle" if r.has_data else "no GPU usage")
        print(f"{r.title}: {head}")
        for path in w.files:
            print(f"  {path}")
    if smtp:
        sent = send_email(written, args.email_to, smtp)
        print(f"e-mailed {sent} report(s) to {', '.join(args.email_to)} via {smtp.host}:{smtp.port}")
    if args.s3:
        uris = upload_s3(written, args.s3)
        print(f"uploaded {len(uris)} file(s) to {args.s3.rstrip('/')}/{written[0].report.week}/")
