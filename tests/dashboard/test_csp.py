"""The Content-Security-Policy holds on every page: Chromium reports no violation (no inline script or style, no
eval, nothing from elsewhere) while each page loads and draws, and every response, static files included,
carries the policy and the other security headers."""

import pytest
from django.contrib.auth import get_user_model

from apps.federated.models import Round
from apps.federated.services import experiment_create
from apps.ledger.models import Record
from tests.conftest import grant_experiment_permissions

from .conftest import PASSWORD
from .test_browser import SMALL, run_round

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Collects what the browser reports; added before any page script runs.
WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', e =>
    window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${e.sourceFile}:${e.lineNumber}: ${e.sample}`));
"""


def pages(experiment):
    block = Record.objects.filter(experiment_id=experiment.id).first()
    return [
        "/", "/experiments/", f"/experiments/{experiment.id}/", f"/experiments/{experiment.id}/rounds/1/",
        f"/compare/?ids={experiment.id}", "/scenarios/", "/scenarios/tamper/", "/blocks/", "/blocks/1/",
        f"/tx/{block.txid}/", "/chain/", f"/search?q={experiment.id}", "/experiments/new/", "/admin/",
        "/admin/federated/experiment/", "/api/docs/", "/no-such-page/",
    ]


@pytest.mark.csp
def test_no_page_violates_the_content_security_policy(asgi_server, browser_page):
    experiment = experiment_create(**SMALL)
    for number in (0, 1):
        run_round(experiment, number)
    assert Round.objects.filter(experiment=experiment).count() == 2
    user = get_user_model().objects.create_superuser("root", password=PASSWORD)
    grant_experiment_permissions(user)
    page = browser_page
    page.allow_console_errors("404 (Not Found)")  # the unknown page, on purpose
    page.add_init_script(WATCH)
    page.goto(f"{asgi_server}/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    seen = {}
    for path in pages(experiment):
        response = page.goto(f"{asgi_server}{path}")
        assert "script-src 'self'" in response.headers["content-security-policy"], path
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)  # charts draw after the first events
        seen[path] = page.evaluate("window.__violations")
    assert all(not violations for violations in seen.values()), seen



def test_the_plotly_stylesheet_file_is_what_the_vendored_plotly_would_inject(chromium):
    """static/css/plotly.css stands in for the <style> plotly.js injects; a plotly upgrade that changes those
    rules fails here: regenerate the file from document.getElementById('plotly.js-style-global').sheet."""
    from pathlib import Path

    import plotly
    from django.conf import settings

    page = chromium.new_page()
    page.set_content("<html><head></head><body></body></html>")
    page.add_script_tag(path=str(Path(plotly.__file__).parent / "package_data" / "plotly.min.js"))
    injected = page.evaluate(
        "() => Array.from(document.getElementById('plotly.js-style-global').sheet.cssRules).map(r => r.cssText)"
    )
    page.close()
    text = (Path(settings.BASE_DIR) / "static" / "css" / "plotly.css").read_text()
    rules = [line for line in text.splitlines() if line.startswith(".")]
    assert rules == injected
