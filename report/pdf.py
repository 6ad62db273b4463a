"""HTML to PDF with headless Chromium (``chromium --headless --print-to-pdf``).

The same Chromium kaleido uses; no extra Python dependency. The page size and margins come
from the HTML's ``@page`` rule (A4); ``--no-pdf-header-footer`` drops the URL/date lines.
Chromium runs with ``--no-sandbox`` only when this process is root (its sandbox refuses
root), and with a throw-away profile folder so it never touches a user's profile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from gpucost.errors import GpucostError

TIMEOUT_S = 120


def chromium_path() -> str:
    """$GPUCOST_CHROMIUM, else chromium / chromium-browser / google-chrome on PATH."""
    found = os.environ.get("GPUCOST_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    if not found:
        raise GpucostError("--pdf needs Chromium (Debian: apt-get install chromium) or GPUCOST_CHROMIUM")
    return found


def print_pdf(html_path: Path, pdf_path: Path) -> Path:
    """Print `html_path` to `pdf_path`; GpucostError with Chromium's last line on failure."""
    with tempfile.TemporaryDirectory(prefix="gpucost-chromium-") as profile:
        cmd = [chromium_path(), "--headless", "--disable-gpu", "--disable-dev-shm-usage",
               "--disable-background-networking", "--no-first-run", "--no-default-browser-check",
               f"--user-data-dir={profile}", "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw",
               f"--print-to-pdf={pdf_path.resolve()}", html_path.resolve().as_uri()]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")
        pdf_path.unlink(missing_ok=True)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise GpucostError(f"Chromium did not print {html_path.name} within {TIMEOUT_S} s") from None
    if not pdf_path.exists() or pdf_path.stat().st_size == 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise GpucostError(f"Chromium could not print {html_path.name} to PDF: {last}")
    return pdf_path
