"""In a real browser: the record page re-verifies its Merkle proof with WebCrypto, and the chain page draws its
plotly charts from the locally served plotly.js."""

import pytest

from apps.ledger.models import Record
from tests.dashboard.conftest import asgi_server, browser_page, chromium  # noqa: F401  (fixtures)

# Served by the project's ASGI application (WhiteNoise serves the static files under their hashed names, as in
# production); its thread sees committed rows only.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_proof_verifies_in_the_browser_and_an_altered_record_does_not(asgi_server, experiment_chain, browser_page):  # noqa: F811
    txid = Record.objects.filter(type="client_update", block__height=3).first().txid
    page = browser_page
    page.goto(f"{asgi_server}/tx/{txid}/")
    page.click("#verify-here")
    result = page.locator("#verify-result")
    result.filter(has_text="in this browser").wait_for(timeout=5000)
    assert result.text_content() == "verified in this browser"
    # The same proof for other bytes: flip one hex digit of the record.
    page.evaluate("""() => {
        const card = document.getElementById("proof");
        const leaf = card.dataset.leaf;
        card.dataset.leaf = (leaf[0] === "7" ? "6" : "7") + leaf.slice(1);
    }""")
    page.click("#verify-here")
    result.filter(has_text="does not verify").wait_for(timeout=5000)
    assert "badge bad" in result.get_attribute("class")


def test_the_chain_page_draws_its_charts(asgi_server, experiment_chain, browser_page):  # noqa: F811
    page = browser_page
    page.goto(f"{asgi_server}/chain/")
    for chart in ("#difficulty-chart", "#interval-chart"):
        page.locator(f"{chart} .main-svg").first.wait_for(timeout=10000)
    assert page.locator("#difficulty-chart .scatterlayer .trace").count() == 1
    assert page.locator("#interval-chart .scatterlayer .trace").count() == 2
