"""Every dashboard page in headless Chromium on a small simulated fleet (32 GPUs x 8 days,
built and published as `gpucost demo` does): pages load with no console or callback error,
filters travel in the URL (and back undoes them), the jobs CSV holds the filtered rows,
SQL in the URL matches nothing and changes nothing, and /metrics adds up to the fleet.

Screenshots of each page land in test-artifacts/dashboard-<page>.png.
"""

from __future__ import annotations

import csv
import re
import urllib.request
from urllib.parse import quote

import pytest

from gpucost.dashboard.data import jobs as jobs_data
from gpucost.dashboard.data.common import resolve_window
from gpucost.dashboard.filters import parse_query
from gpucost.ingest.simulate import SimConfig
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse
from test_dashboard import ARTIFACTS, _open, _Server, context  # noqa: F401 - context is a fixture
from conftest import simulated

GPUS = 32

# page path -> (graphs that must show data, whether an AG Grid must show rows)
PAGES = {
    "/": (["overview-spend-by-state", "overview-weekly", "overview-cost-by-team"], None),
    "/utilisation": (["util-heatmap", "util-states", "util-series"], None),
    "/jobs": ([], "jobs-grid"),
    "/teams": (["teams-chargeback", "teams-daily-chart"], "teams-grid"),
    "/prices": (["prices-history-chart", "prices-sources-chart"], "prices-effective"),
    "/fragmentation": (["frag-over-time"], "frag-nodes"),
}
# Per graph: traces, and the titles of all its x axes and y axes (subplots have several).
GRAPHS_JS = """() => {
    const titles = (layout, axis) => Object.keys(layout).filter(k => k.startsWith(axis))
        .map(k => ((layout[k] || {}).title || {}).text).filter(Boolean).join(' | ');
    return Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')].map(g => [
        g.closest('[id]').id,
        {traces: (g.data || []).length, x: titles(g.layout, 'xaxis'), y: titles(g.layout, 'yaxis'),
         ytype: (g.layout.yaxis || {}).type}]));
}"""


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Settings:
    return simulated(tmp_path_factory.mktemp("sim") / "w.duckdb", SimConfig(gpus=GPUS, days=8, seed=7), publish=True)


@pytest.fixture(scope="module")
def server(sim):
    with _Server(sim) as srv:
        yield srv


def _loaded(page, timeout: int = 20000) -> None:
    """Wait until the page's data callback answered (its subtitle no longer says Loading…)."""
    page.wait_for_function("() => document.querySelector('h1') && "
                           "!document.body.innerText.includes('Loading…')", timeout=timeout)


def _spend_total(page) -> float:
    return page.evaluate("() => " + _spend_js())


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_loads_with_data_and_no_errors(path, server, context):
    graphs, grid = PAGES[path]
    page, problems = _open(context, server.url + path)
    try:
        _loaded(page)
        if graphs:
            page.wait_for_function(
                "ids => ids.every(id => { const g = document.querySelector('#' + id + ' .js-plotly-plot');"
                " return g && (g.data || []).length > 0; })", arg=graphs, timeout=20000)
        if grid:   # a filled cell: the infinite grid shows placeholder rows while it loads
            page.wait_for_function(f"() => [...document.querySelectorAll('#{grid} .ag-cell')]"
                                   ".some(c => c.innerText.trim() !== '')", timeout=20000)
        page.wait_for_timeout(400)  # let the last relayout settle before the screenshot
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"dashboard-{path.strip('/') or 'overview'}.png"), full_page=True)
        assert page.inner_text("h1 + div").startswith("Window: ")
        assert not page.locator(".page-message").count() or not page.is_visible(".page-message")
        info = page.evaluate(GRAPHS_JS)
        for gid in graphs:
            assert info[gid]["traces"] > 0, gid
            assert info[gid]["x"], f"{gid}: x axis has no title"
            if info[gid]["ytype"] != "category":
                assert info[gid]["y"], f"{gid}: y axis has no title"
            assert re.search(r"\(|USD|GPUs", info[gid]["y"] or info[gid]["x"]), f"{gid}: no unit on its axes"
        assert problems == []
    finally:
        page.close()


def test_a_filter_change_updates_figures_url_and_links_and_back_undoes_it(server, context):
    page, problems = _open(context, server.url + "/")
    try:
        _loaded(page)
        page.wait_for_selector("#overview-spend-by-state .js-plotly-plot")
        everything = _spend_total(page)
        spend_card = page.inner_text("#card-spend-value")
        page.click("#f-team")
        option = page.locator("[role=option]").first
        team = option.inner_text().strip()
        option.click()
        page.keyboard.press("Escape")
        page.wait_for_url(re.compile(r"\?team="), timeout=10000)
        assert parse_query(page.url.split("?", 1)[1]).teams == (team,)
        page.wait_for_function(f"() => Math.abs({everything} - (" + _spend_js() + ")) > 0.01", timeout=15000)
        assert _spend_total(page) < everything
        assert page.inner_text("#card-spend-value") != spend_card
        assert "team=" in page.get_attribute("a.nav-link[href^='/jobs']", "href")
        # The jobs page opened from the nav keeps the filter.
        page.click("a.nav-link[href^='/jobs']")
        page.wait_for_selector("#jobs-grid .ag-row", timeout=20000)
        teams = page.evaluate("() => [...document.querySelectorAll('#jobs-grid .ag-center-cols-container "
                              "[col-id=team]')].map(c => c.innerText)")
        assert teams and set(teams) == {team}
        page.go_back()
        page.go_back()
        page.wait_for_function(f"() => !location.search && document.querySelector('#overview-spend-by-state') "
                               f"&& Math.abs({everything} - (" + _spend_js() + ")) < 0.01", timeout=20000)
        assert page.inner_text("#f-team").strip() in ("All teams", "")
        assert problems == []
    finally:
        page.close()


def _spend_js() -> str:
    # _fullData: plotly's decoded traces (data may hold numpy arrays as base64 'bdata')
    return ("document.querySelector('#overview-spend-by-state .js-plotly-plot')"
            "._fullData.reduce((s, t) => s + Array.from(t.y || []).reduce((a, b) => a + b, 0), 0)")


def test_jobs_csv_download_has_the_filtered_rows(sim, server, context):
    with open_warehouse(sim, read_only=True, prefer_snapshot=True) as con:
        everyone = jobs_data.jobs(con, parse_query(""), resolve_window(con, parse_query("")), sim.step_seconds)
    team = everyone["team"].value_counts().index[0]
    model = everyone.loc[everyone["team"] == team, "gpu_model"].value_counts().index[0]
    word = model.split()[1]                                   # e.g. "A100-SXM4-40GB"
    expected = everyone[(everyone["team"] == team) & everyone["gpu_model"].str.contains(word, regex=False)]
    page, problems = _open(context, f"{server.url}/jobs?team={quote(team)}")
    try:
        _loaded(page)
        page.wait_for_selector("#jobs-grid .ag-row", timeout=20000)
        page.locator("#jobs-grid .ag-floating-filter[col-id=gpu_model] input").fill(word)   # a column filter
        page.wait_for_timeout(600)
        with page.expect_download(timeout=15000) as download:
            page.click("#jobs-csv")
        assert download.value.suggested_filename.startswith("gpucost-jobs-")
        with open(download.value.path(), encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        assert rows and len(rows) < len(everyone)
        assert {r["Team"] for r in rows} == {team}
        assert all(word in r["GPU model"] for r in rows)
        assert sorted(r["Job"] for r in rows) == sorted(expected["job"])
        assert sum(float(r["Cost (USD)"]) for r in rows) == pytest.approx(expected["cost_usd"].sum())
        assert problems == []
    finally:
        page.close()


INJECTIONS = [
    ("/jobs?team=" + quote("' or 1=1 --"), "No GPU usage matches these filters"),
    ("/?cluster=" + quote("; drop table job_costs"), "No GPU usage matches these filters"),
    ("/teams?ns=" + quote("x'); drop table usage_hourly; --") + "&model=" + quote('" or ""="'),
     "No GPU usage matches these filters"),
    ("/prices?from=" + quote("; drop table job_costs") + "&to=" + quote("2026-01-01' --"), "ignored from="),
]


def test_sql_in_the_url_changes_nothing_and_errors_cleanly(sim, server, context):
    def counts():
        with open_warehouse(sim, read_only=True, prefer_snapshot=True) as con:
            return [con.execute(f"select count(*) from {t}").fetchone()[0]
                    for t in ("job_costs", "usage_hourly", "gpu_usage_steps", "raw_prices")]

    before = counts()
    for path, expected in INJECTIONS:
        page, problems = _open(context, server.url + path)
        try:
            _loaded(page)
            page.wait_for_function("t => document.body.innerText.includes(t)", arg=expected, timeout=15000)
            assert problems == [], path
        finally:
            page.close()
    assert counts() == before


def test_metrics_add_up_to_the_fleet(server):
    text = urllib.request.urlopen(server.url + "/metrics", timeout=10).read().decode()
    gpus = [float(v) for k, v in (line.rsplit(" ", 1) for line in text.splitlines()
                                  if line.startswith("gpucost_gpus{"))]
    assert len(gpus) == 4 and sum(gpus) == pytest.approx(GPUS)
    for name in ("gpucost_idle_cost_usd_per_hour", "gpucost_unallocated_cost_usd_per_hour", "gpucost_no_data_share"):
        assert re.search(rf'^{name}{{cluster="demo"}} [0-9.e+-]+$', text, re.M), name
    assert urllib.request.urlopen(server.url + "/healthz", timeout=10).read() == b"ok"
