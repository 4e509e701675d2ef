"""The bounded pages in Chromium: an experiment of 10 000 clients draws and links one page of them, and a block
of thousands of records lists a page of them with a link to the next. Screenshots: test-artifacts/dashboard/
bounded-*.png."""

import pytest

from apps.dashboard.selectors import CLIENTS_PAGE
from apps.explorer.selectors import RECORDS_PAGE
from apps.ledger.models import Block
from tests.crowd import clients_add, records_add

from .conftest import screenshot
from .test_browser_views import traces, trained

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_experiment_of_ten_thousand_clients_shows_a_page_of_them(asgi_server, browser_page):
    experiment = trained("crowded", rounds=1)
    clients_add(experiment, up_to=10_000)
    page = browser_page
    page.goto(f"{asgi_server}/experiments/{experiment.id}/")
    page.wait_for_function("document.getElementById('clients-chart').data")
    assert traces(page, "clients-chart")[0]["x"] == list(range(CLIENTS_PAGE))
    assert f"(the first {CLIENTS_PAGE} of 10000)" in page.inner_text("#clients-chart >> xpath=..")
    page.click("#client-pages summary")
    screenshot(page, "bounded-experiment")
    page.click("#client-pages a[rel=next]")
    page.wait_for_url(f"**/experiments/{experiment.id}/?clients_after={CLIENTS_PAGE - 1}#client-pages")
    links = page.locator("#client-pages .client-links a")
    assert links.count() == CLIENTS_PAGE and links.first.inner_text() == str(CLIENTS_PAGE)
    screenshot(page, "bounded-experiment-clients-page-2", full_page=False)


def test_a_block_of_thousands_of_records_lists_a_page_of_them(asgi_server, browser_page):
    experiment = trained("records", rounds=1)
    block = Block.objects.get(status="main", experiment_id=experiment.id, round_number=1)
    records_add(block, 2500, padding="p" * 2000)
    page = browser_page
    page.goto(f"{asgi_server}/blocks/{block.height}/")
    assert page.locator("table tbody tr").count() == RECORDS_PAGE
    assert "too many bytes to re-check on every view" in page.inner_text("body")
    screenshot(page, "bounded-block")
    page.click("a[rel=next]:has-text('Next records')")
    page.wait_for_url(f"**/blocks/{block.height}/?after={RECORDS_PAGE - 1}&limit={RECORDS_PAGE}")
    assert page.locator("table tbody tr td.num").first.inner_text() == str(RECORDS_PAGE)
