"""A real Prometheus on loopback, for tests, benchmarks and trying gpucost without a cluster.

Uses the Debian `prometheus` package (/usr/bin/prometheus, /usr/bin/promtool). History is
backfilled with `promtool tsdb create-blocks-from openmetrics --max-block-duration=168h`
(smaller blocks make promtool re-read the file per block). The OpenMetrics text must end
with '# EOF' and carry timestamps in seconds. Retention is 100y so old backfilled blocks
are not deleted at start.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from gpucost.errors import GpucostError

PROMETHEUS = "prometheus"
PROMTOOL = "promtool"


def binaries() -> tuple[str, str] | None:
    """(prometheus, promtool) paths, or None when not installed."""
    p, t = shutil.which(PROMETHEUS) or "/usr/bin/prometheus", shutil.which(PROMTOOL) or "/usr/bin/promtool"
    return (p, t) if Path(p).exists() and Path(t).exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def backfill(openmetrics: Path, data_dir: Path) -> None:
    """Write TSDB blocks for an OpenMetrics file into data_dir (promtool)."""
    found = binaries()
    if not found:
        raise GpucostError("promtool not found (Debian package 'prometheus')")
    data_dir.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([found[1], "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=168h",
                        str(openmetrics), str(data_dir)], capture_output=True, text=True)
    if r.returncode:
        raise GpucostError(f"promtool failed on {openmetrics}: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")


class LocalPrometheus:
    """Prometheus on 127.0.0.1:<free port> over data_dir; a context manager.

    scrape: optional (job, target 'host:port', interval s) scrape configs.
    """

    def __init__(self, data_dir: Path, scrape: list[tuple[str, str, float]] = (), port: int | None = None,
                 log: Path | None = None):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.scrape = list(scrape)
        self.log = log or self.data_dir.parent / f"prometheus-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def _config(self) -> Path:
        lines = ["global:", "  scrape_interval: 15s", "scrape_configs:"]
        for job, target, interval in self.scrape:
            lines += [f"  - job_name: {job}", f"    scrape_interval: {interval}s",
                      f"    scrape_timeout: {min(interval, 10)}s", "    honor_labels: true",
                      "    static_configs:", f"      - targets: ['{target}']"]
        if not self.scrape:
            lines[-1] = "scrape_configs: []"
        path = self.data_dir.parent / f"prometheus-{self.port}.yml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, timeout_s: float = 60.0) -> "LocalPrometheus":
        found = binaries()
        if not found:
            raise GpucostError("prometheus not found (Debian package 'prometheus')")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [found[0], f"--config.file={self._config()}", f"--storage.tsdb.path={self.data_dir}",
               "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{self.port}",
               "--log.level=warn"]
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self._logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise GpucostError(f"prometheus exited with {self.proc.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise GpucostError(f"prometheus not ready after {timeout_s:g} s; see {self.log}")

    def kill(self) -> None:
        """SIGKILL (a crash), for fault tests."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if getattr(self, "_logf", None):
            self._logf.close()
            self._logf = None

    def __enter__(self) -> "LocalPrometheus":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- replaying captured /metrics text --------------------------------------------------------
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(?:\s+(-?\d+))?\s*$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def _unescape(v: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse_exposition(text: str) -> list[tuple[str, dict[str, str], str]]:
    """(name, labels, value text) of each sample line of Prometheus text exposition
    (comments and timestamps dropped)."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise GpucostError(f"line {n}: not a sample: {line[:80]!r}")
        labels: dict[str, str] = {}
        body = (m.group(2) or "{}")[1:-1]
        pos = 0
        while pos < len(body):
            lm = _LABEL.match(body, pos)
            if not lm:
                raise GpucostError(f"line {n}: bad labels: {body[pos:pos + 40]!r}")
            labels[lm.group(1)] = _unescape(lm.group(2))
            pos = lm.end()
        out.append((m.group(1), labels, m.group(3)))
    return out


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def replay_openmetrics(timeline: list[tuple[int, list[tuple[str, dict[str, str], str]]]]) -> str:
    """OpenMetrics text in which each (unix seconds, samples) scrape of `timeline` is
    stored at its time: every family declared once (as a gauge: captured counters lack the
    OpenMetrics '_total' suffix), each series' samples contiguous and in time order, '# EOF'
    at the end. Within one scrape a repeated series keeps its first value."""
    families: dict[str, dict[tuple, list[tuple[int, str]]]] = {}
    for t, samples in sorted(timeline, key=lambda s: s[0]):
        seen: set = set()
        for name, labels, value in samples:
            key = tuple(labels.items())
            if (name, key) in seen:
                continue
            seen.add((name, key))
            families.setdefault(name, {}).setdefault(key, []).append((t, value))
    lines = []
    for name, series in families.items():
        lines.append(f"# TYPE {name} gauge")
        for key, points in series.items():
            lab = ",".join(f'{k}="{_escape(v)}"' for k, v in key)
            prefix = f"{name}{{{lab}}} " if lab else f"{name} "
            lines += [f"{prefix}{v} {t}" for t, v in points]
    return "\n".join(lines) + "\n# EOF\n"
