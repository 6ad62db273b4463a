"""The recommendations page in headless Chromium on a small simulated fleet (16 GPUs x 2 days,
built, recommended and published as `gpucost demo` does): it loads with no console or callback
error, the total card equals the table's sum, the grid lists the rows, and the team filter in
the URL narrows them. The screenshot lands in test-artifacts/dashboard-recommendations.png.
"""

from __future__ import annotations

import pytest

from gpucost.dashboard import formatting as fmt
from gpucost.ingest.simulate import SimConfig
from gpucost.settings import Settings
from gpucost.warehouse import open_warehouse
from test_dashboard import ARTIFACTS, _open, _Server, context  # noqa: F401 - context is a fixture
from conftest import simulated


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Settings:
    return simulated(tmp_path_factory.mktemp("recsim") / "w.duckdb", SimConfig(gpus=16, days=2, seed=3),
                     recommend=True, publish=True)


def _table(settings: Settings, team: str | None = None) -> tuple[int, float]:
    with open_warehouse(settings, read_only=True) as con:
        n, usd = con.execute("select count(*), sum(monthly_savings_usd) from recommendations "
                             "where $team is null or team = $team", {"team": team}).fetchone()
    return n, usd


def _loaded(page) -> None:
    page.wait_for_function("() => document.querySelector('h1') && "
                           "!document.body.innerText.includes('Loading…')", timeout=20000)


def test_recommendations_page(sim, context):
    n, usd = _table(sim)
    assert n > 0
    with open_warehouse(sim, read_only=True) as con:
        team = con.execute("select team from recommendations where team is not null "
                           "group by team order by count(*) limit 1").fetchone()[0]
    n_team, _ = _table(sim, team)
    with _Server(sim) as srv:
        page, problems = _open(context, srv.url + "/recommendations")
        try:
            _loaded(page)
            page.wait_for_selector("#recs-grid .ag-row", timeout=15000)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "dashboard-recommendations.png"), full_page=True)
            assert page.inner_text("h1") == "GPU cost recommendations"
            assert page.inner_text("#recs-total-value") == f"{fmt.usd(usd)}/mo"
            assert f"{n:,} recommendations" in page.inner_text("#recs-total")
            rows = page.locator("#recs-grid .ag-center-cols-container .ag-row").count()
            assert rows == min(n, 20)  # one page of the paginated grid
            assert page.inner_text("#recs-window").startswith("Computed on ")
            page.goto(srv.url + f"/recommendations?team={team}")
            _loaded(page)
            page.wait_for_function(f"() => document.querySelector('#recs-total') && "
                                   f"document.querySelector('#recs-total').innerText.includes('{n_team:,} recommendations')",
                                   timeout=15000)
            assert problems == []
        finally:
            page.close()
