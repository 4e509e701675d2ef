"""What users look at, in headless Chromium against the real ASGI application: the comparison view, the
dashboard's curves, layouts at 1366 and 390 px, the dark theme, the tamper sandbox, copy buttons, times,
hash-prefix search, the favicon and the guided scenarios.

Screenshots land in test-artifacts/dashboard/ (views-*.png).
"""

import pytest

from apps.events.services import event_emit
from apps.federated.models import Experiment
from apps.federated.selectors import round_batch
from apps.federated.services import experiment_create, experiment_run_round
from apps.ledger.models import Block, Record
from apps.ledger.store import block_mine


from .conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SMALL = {"dataset": "iris", "clients": 3, "rounds": 3, "difficulty_bits": 6}
WIDTHS = {"desktop": (1366, 800), "phone": (390, 844)}
FIT_ON_PHONE = {"dashboard", "experiment", "compare", "scenarios", "tamper"}


def trained(name, **settings):
    """An experiment whose every round is recorded and mined, as the workers do it (in this process)."""
    experiment = experiment_create(name=name, **{**SMALL, **settings})
    for number in range(experiment.rounds + 1):
        block_mine(batch=round_batch(experiment_run_round(experiment=experiment, number=number)))
    return experiment


def label(experiment):
    """How pages name an experiment in tables and legends (apps.core.templatetags.site.short_id)."""
    from apps.core.templatetags.site import short_id

    return f"#{short_id(experiment.id)} {experiment.name}"


def traces(page, chart_id):
    return page.evaluate(
        "id => (document.getElementById(id).data || []).map(t => ({name: t.name, x: t.x, y: t.y}))", chart_id
    )


def overflow(page):
    """How far the page is wider than the window (0: no horizontal scrolling), and each table that scrolls
    inside its card (its columns would be cut off at the card's edge)."""
    return page.evaluate(
        """() => ({
            page: document.documentElement.scrollWidth - window.innerWidth,
            tables: [...document.querySelectorAll('.table-wrap')]
                .filter(w => w.offsetParent !== null && w.scrollWidth > w.clientWidth + 1)
                .map(w => (w.closest('section, .card') || w).querySelector('h2')?.textContent || w.id),
        })"""
    )


def new_page(chromium, width, height, **options):
    context = chromium.new_context(viewport={"width": width, "height": height}, **options)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    # No request of a page may fail: the favicon included.
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
    return context, page, problems




def test_three_experiments_compared_overlaid_smoothed_and_linkable(asgi_server, browser_page):
    page = browser_page
    runs = [
        trained("even split"),
        trained("skewed split", partition="dirichlet", alpha=0.1),
        trained("two classes each", partition="shards", classes_per_client=2),
    ]
    ids = ",".join(str(e.id) for e in runs)
    page.goto(f"{asgi_server}/compare/?ids={ids}")
    page.wait_for_function("() => (document.getElementById('compare-loss').data || []).length === 6")
    loss = traces(page, "compare-loss")
    names = [t["name"] for t in loss]
    assert names == [name for run in runs for name in (label(run), f"{label(run)} baseline")]
    for trace, experiment in zip(loss[::2], runs):
        stored = list(experiment.round_set.order_by("number").values_list("test_loss", flat=True))
        assert trace["x"] == [0, 1, 2, 3] and trace["y"] == pytest.approx(stored)
    assert len(traces(page, "compare-accuracy")) == 6
    settings_rows = page.eval_on_selector_all("#compare-settings tr[data-setting]", "rows => rows.map(r => r.dataset.setting)")
    assert settings_rows == ["partition", "alpha"]
    assert page.locator("#compare-results tbody tr").count() == 3
    final = runs[1].round_set.get(number=3).test_accuracy
    assert page.inner_text(f"#compare-results tr[data-experiment='{runs[1].id}'] .final-accuracy") == f"{final * 100:.1f} %"
    screenshot(page, "views-compare-three")

    # Smoothing: an exponential moving average, debiased (the first point stays as it is); the URL follows.
    page.eval_on_selector("#smoothing", "s => { s.value = '0.6'; s.dispatchEvent(new Event('input')); }")
    page.wait_for_function("() => location.search.includes('smooth=0.6')")
    raw = list(runs[0].round_set.order_by("number").values_list("test_loss", flat=True))
    expected, last = [], 0.0
    for count, value in enumerate(raw, start=1):
        last = last * 0.6 + 0.4 * value
        expected.append(last / (1 - 0.6**count))
    assert traces(page, "compare-loss")[0]["y"] == pytest.approx(expected)
    assert expected[0] == pytest.approx(raw[0]) and expected[-1] != pytest.approx(raw[-1])

    # Without the baselines; the link says so and opens the same view.
    page.uncheck("#show-baselines")
    page.wait_for_function("() => (document.getElementById('compare-loss').data || []).length === 3")
    link = page.get_attribute("#compare-link", "href")
    assert "baselines=off" in link and "smooth=0.6" in link and f"ids={ids.replace(',', '%2C')}" in link
    page.goto(f"{asgi_server}{link}")
    page.wait_for_function("() => (document.getElementById('compare-loss').data || []).length === 3")
    assert page.input_value("#smoothing") == "0.6" and not page.is_checked("#show-baselines")
    assert traces(page, "compare-loss")[0]["y"] == pytest.approx(expected)


def test_the_dashboard_draws_live_curves_and_drops_the_first_run_offer(asgi_server, browser_page):
    page = browser_page
    page.goto(asgi_server + "/")
    page.wait_for_selector("#live-status[data-state=live]")
    assert page.is_visible("#demo")
    experiment = experiment_create(name="watched", **SMALL)
    page.wait_for_selector("#demo", state="hidden")  # no reload: the experiment's event removed it
    assert page.locator("#experiments tr").count() == 1
    for number in range(3):
        block_mine(batch=round_batch(experiment_run_round(experiment=experiment, number=number)))
    page.wait_for_function(
        "() => ((document.getElementById('overview-loss').data || [])[0] || {x: []}).x.length === 3", timeout=10000
    )
    accuracy = traces(page, "overview-accuracy")
    assert accuracy[0]["name"] == label(experiment)
    assert accuracy[0]["y"] == pytest.approx(
        list(experiment.round_set.order_by("number").values_list("test_accuracy", flat=True))
    )
    assert page.get_attribute("#compare-recent", "href") == f"/compare/?ids={experiment.id}"
    screenshot(page, "views-dashboard-curves")


def test_pages_fit_1366_and_390_pixels_and_the_mining_card_stays_put(asgi_server, chromium):
    experiment = trained("layout", clients=4)
    other = trained("layout, skewed", partition="dirichlet", alpha=0.1)
    block = Block.objects.get(status="main", height=2)
    paths = {
        "dashboard": "/",
        "experiments": "/experiments/",
        "experiment": f"/experiments/{experiment.id}/",
        "compare": f"/compare/?ids={experiment.id},{other.id}",
        "blocks": "/blocks/",
        "block": f"/blocks/{block.hash}/",
        "chain": "/chain/",
        "round": f"/experiments/{experiment.id}/rounds/2/",
        "scenarios": "/scenarios/",
        "tamper": "/scenarios/tamper/",
    }
    for device, (width, height) in WIDTHS.items():
        context, page, problems = new_page(chromium, width, height)
        try:
            for name, path in paths.items():
                page.goto(asgi_server + path)
                page.wait_for_load_state("load")
                page.wait_for_timeout(150)  # charts draw once plotly has loaded
                screenshot(page, f"views-{name}-{width}", full_page=(name != "experiment"))
                found = overflow(page)
                assert found["page"] <= 0, f"{name} at {width} px is {found['page']} px too wide"
                # At 390 px the explorer's and the experiment list's wide tables scroll sideways in their card;
                # the live pages' tables drop columns instead and must fit.
                if device == "desktop" or name in FIT_ON_PHONE:
                    assert found["tables"] == [], f"{name} at {width} px clips tables {found['tables']}"
            assert not problems, problems
        finally:
            context.close()

    # The mining card is always there: mining starting, going beyond expected and ending moves nothing.
    context, page, problems = new_page(chromium, *WIDTHS["desktop"])
    try:
        page.goto(asgi_server + "/")
        page.wait_for_selector("#live-status[data-state=live]")
        assert page.get_attribute("#mining", "data-state") == "idle"
        assert "Block 8 took" in page.inner_text("#mining-text")  # how the last block went
        below = page.eval_on_selector("#blocks", "t => t.getBoundingClientRect().top")
        tip = Block.objects.filter(status="main").order_by("-height").first().height
        progress = {"height": tip + 1, "experiment": other.id, "round": 4, "hash_rate": 1e6}
        event_emit(type="mining_progress", payload={**progress, "nonces": 500_000, "expected": 1_000_000})
        page.wait_for_selector("#mining[data-state=mining]")
        assert page.eval_on_selector("#mining-progress", "bar => bar.value") == 0.5
        assert page.eval_on_selector("#blocks", "t => t.getBoundingClientRect().top") == below
        event_emit(type="mining_progress", payload={**progress, "nonces": 3_000_000, "expected": 1_000_000})
        page.wait_for_selector("#mining[data-state=beyond]")
        text = page.inner_text("#mining-text")
        assert text.startswith("Beyond expected: 3.0× the expected work.") and "5 % of blocks take this long" in text
        assert page.eval_on_selector("#mining-progress", "bar => bar.value") == 1
        assert page.eval_on_selector("#blocks", "t => t.getBoundingClientRect().top") == below
        screenshot(page, "views-mining-beyond-expected", full_page=False)
        assert not problems, problems
    finally:
        context.close()


def test_the_dark_theme_follows_the_system_setting(asgi_server, chromium):
    experiment = trained("dark")
    for scheme, background in (("dark", "rgb(16, 20, 28)"), ("light", "rgb(246, 247, 249)")):
        context, page, problems = new_page(chromium, 1366, 800, color_scheme=scheme)
        try:
            page.goto(f"{asgi_server}/experiments/{experiment.id}/")
            page.wait_for_function("() => (document.getElementById('loss-chart').data || []).length > 0")
            assert page.evaluate("getComputedStyle(document.body).backgroundColor") == background
            card = page.eval_on_selector(".card", "c => getComputedStyle(c).backgroundColor")
            chart_text = page.evaluate("document.getElementById('loss-chart').layout.font.color")
            if scheme == "dark":
                assert card == "rgb(24, 30, 42)" and chart_text == "#e3e7ef"
                screenshot(page, "views-experiment-dark")
                page.goto(f"{asgi_server}/blocks/")
                screenshot(page, "views-blocks-dark", full_page=False)
            else:
                assert card == "rgb(255, 255, 255)" and chart_text == "#1d2330"
            assert not problems, problems
        finally:
            context.close()


def test_the_tamper_sandbox_names_the_block_then_restores_it_and_the_chain_is_untouched(asgi_server, browser_page):
    page = browser_page
    trained("to tamper with")
    stored = list(Record.objects.order_by("id").values_list("body", flat=True))
    page.goto(asgi_server + "/scenarios/tamper/")
    page.wait_for_function("() => document.getElementById('sandbox-badge').textContent.startsWith('Sandbox: Chain valid')")
    page.select_option("#tamper-height", "3")
    page.click("#tamper")
    page.wait_for_function("() => document.getElementById('sandbox-badge').classList.contains('bad')")
    sandbox = page.inner_text("#sandbox-badge")
    assert sandbox.startswith("Sandbox: Chain INVALID at height 3 · rule merkle"), sandbox
    assert "record" in page.inner_text("#sandbox-change") and "block 3" in page.inner_text("#sandbox-change")
    assert page.inner_text("#chain-badge").startswith("Chain valid")  # the real chain's badge
    screenshot(page, "views-tamper-red")
    page.click("#restore")
    page.wait_for_function("() => document.getElementById('sandbox-badge').classList.contains('ok')")
    assert page.inner_text("#sandbox-change") == "The copy is as stored."
    assert list(Record.objects.order_by("id").values_list("body", flat=True)) == stored
    assert page.inner_text("#chain-badge").startswith("Chain valid")


def test_copy_buttons_times_prefix_search_and_the_favicon(asgi_server, chromium):
    trained("copy")
    block = Block.objects.get(status="main", height=2)
    context, page, problems = new_page(
        chromium, 1366, 800, permissions=["clipboard-read", "clipboard-write"]
    )
    try:
        page.goto(f"{asgi_server}/blocks/{block.hash}/")
        page.click(f"button.copy[data-copy='{block.hash}']")
        assert page.evaluate("navigator.clipboard.readText()") == block.hash
        assert page.inner_text(f"button.copy[data-copy='{block.hash}']") == "Copied"
        assert page.locator("button.copy").count() >= 3  # hash, Merkle root and the raw header's parent, at least
        ago = page.inner_text("time.when + .ago")
        assert ago.endswith(" ago)") or ago == " (just now)", ago
        # A favicon the browser finds, here and on the admin's pages that name none.
        icon = page.get_attribute("link[rel=icon]", "href")
        assert page.request.get(asgi_server + icon).headers["content-type"] == "image/svg+xml"
        assert page.request.get(asgi_server + "/favicon.ico").status == 200

        # The first characters of a hash that names one block go to it.
        others = [*Record.objects.values_list("txid", flat=True), *Block.objects.exclude(pk=block.pk).values_list("hash", flat=True)]
        prefix = next(block.hash[:n] for n in range(6, 64) if not any(h.startswith(block.hash[:n]) for h in others))
        page.fill(".site-search input", prefix)
        page.press(".site-search input", "Enter")
        page.wait_for_url(f"{asgi_server}/blocks/{block.hash}/")
        assert not problems, problems
    finally:
        context.close()


def scenario_start(page, base, key):
    """Signs in, clicks the scenario's start button and waits for the comparison view it redirects to.

    The wait is for the view's server-rendered content (its state, written after everything the assertions
    read), not for the page's load event: that waits for plotly.js (4.6 MB), which takes a second to parse on a
    quiet machine and many times that when the cores are shared, and which no assertion here needs. Nothing
    trains meanwhile: no worker runs in these tests, the experiments stay queued in the task queue."""
    sign_in(page, base, "/scenarios/")
    page.click(f"#scenario-{key} button[type=submit]")
    page.wait_for_url(f"{base}/compare/*", wait_until="commit")
    page.wait_for_selector("#compare-state", state="attached")
    assert f"scenario={key}" in page.url


def charts_drawn(page, *chart_ids):
    """Waits until plotly has drawn these charts (for screenshots: a generous wait, plotly parses slowly under
    load)."""
    for chart_id in chart_ids:
        page.wait_for_function("id => document.getElementById(id).data !== undefined", arg=chart_id, timeout=120_000)


def test_the_iid_vs_non_iid_scenario_starts_in_one_click_and_says_what_to_look_for(asgi_server, browser_page):
    page = browser_page
    scenario_start(page, asgi_server, "iid-vs-non-iid")
    iid, skewed = Experiment.objects.order_by("id")
    assert "what to look for" in page.inner_text("#scenario-text")
    assert page.locator("#compare-results tbody tr").count() == 2
    rows = page.eval_on_selector_all("#compare-settings tr[data-setting]", "rows => rows.map(r => r.dataset.setting)")
    assert rows == ["partition", "alpha"]
    screenshot(page, "views-scenario-iid")  # charts empty or not drawn yet: no round is trained here
    # The experiment list tells them apart and filters by partition.
    page.goto(f"{asgi_server}/experiments/", wait_until="domcontentloaded")
    page.select_option("#experiment-filters select[name=partition]", "dirichlet")
    page.click("#experiment-filters button[type=submit]")
    page.wait_for_url("**partition=dirichlet**", wait_until="domcontentloaded")
    assert page.eval_on_selector_all("#experiment-table tbody tr", "rows => rows.map(r => Number(r.dataset.experiment))") == [skewed.id]
    assert iid.status == Experiment.Status.RUNNING


def test_the_attack_vs_defence_scenario_compares_fedavg_and_multi_krum_under_the_same_attack(asgi_server, browser_page):
    page = browser_page
    scenario_start(page, asgi_server, "attack-vs-defence")
    clean, fedavg, multi_krum = Experiment.objects.order_by("id")
    text = page.inner_text("#scenario-text")
    assert text.startswith("Attack vs defence: what to look for") and "Multi-Krum" in text
    shown = page.eval_on_selector_all("#compare-results tbody tr", "rows => rows.map(r => Number(r.dataset.experiment))")
    assert shown == [clean.id, fedavg.id, multi_krum.id]
    settings = page.eval_on_selector_all(
        "#compare-settings tr[data-setting]", "rows => rows.map(r => [r.dataset.setting, ...[...r.cells].slice(1).map(c => c.textContent)])"
    )
    assert settings == [
        ["aggregator", "fedavg", "fedavg", "krum"],
        ["byzantine", "0", "0", "4"],
        ["krum_select", "1", "1", "16"],
        ["attack", "none", "sign_flip", "sign_flip"],
        ["malicious", "0", "4", "4"],
    ]
    # A few rounds recorded (in this process, as a worker would) show the attack and the defence on the curves.
    for experiment in (clean, fedavg, multi_krum):
        for number in range(4):
            experiment_run_round(experiment=experiment, number=number)
    for width, height in WIDTHS.values():
        page.set_viewport_size({"width": width, "height": height})
        page.reload(wait_until="commit")
        page.wait_for_selector("#compare-state", state="attached")
        charts_drawn(page, "compare-loss", "compare-accuracy")
        accuracy = {t["name"]: t["y"] for t in traces(page, "compare-accuracy") if not t["name"].endswith("baseline")}
        final = {name: round(values[-1], 3) for name, values in accuracy.items()}
        assert final[label(fedavg)] < 0.2 < 0.8 < final[label(multi_krum)], final
        assert abs(final[label(multi_krum)] - final[label(clean)]) < 0.05, final
        screenshot(page, f"views-scenario-attack-{width}")
        found = overflow(page)
        assert found["page"] <= 0 and found["tables"] == [], f"at {width} px: {found}"


def test_the_interactive_api_page_calls_the_api_from_the_browser(asgi_server, chromium):
    trained("api")
    context, page, problems = new_page(chromium, 1366, 800)
    try:
        page.goto(f"{asgi_server}/api/docs/")
        page.wait_for_selector(".opblock-summary-path")
        paths = page.eval_on_selector_all(".opblock-summary-path", "nodes => nodes.map(n => n.textContent.trim())")
        assert "/api/chain/" in [p.replace("\u200b", "") for p in paths] and len(paths) >= 10
        page.click(".opblock:has(.opblock-summary-path[data-path='/api/chain/']) .opblock-summary")
        page.click("button.try-out__btn")
        page.click("button.execute")
        status = ".live-responses-table tbody .response-col_status"
        page.wait_for_selector(status)
        assert page.inner_text(status).strip().startswith("200")
        assert '"bestblockhash"' in page.inner_text(".live-responses-table tbody .microlight")
        screenshot(page, "views-api-docs")
        assert not problems, problems
    finally:
        context.close()


def test_the_form_shows_each_setting_where_it_applies_with_help_and_a_summary_of_errors(asgi_server, chromium):
    context, page, problems = new_page(chromium, 1366, 800)
    try:
        sign_in(page, asgi_server, "/experiments/new/")

        def shown(name):
            return page.is_visible(f"#id_{name}")

        assert not shown("alpha") and not shown("classes_per_client") and not shown("hidden")
        assert not shown("trim_ratio") and not shown("krum_select") and shown("clients")
        assert "small (0.1) = very skewed" in page.inner_text(".field:has(#id_alpha)")  # help beside the field
        page.select_option("#id_partition", "dirichlet")
        assert shown("alpha") and not shown("classes_per_client")
        page.select_option("#id_partition", "shards")
        assert shown("classes_per_client") and not shown("alpha")
        page.select_option("#id_model", "mlp")
        assert shown("hidden")
        page.select_option("#id_aggregator", "krum")
        assert shown("byzantine") and shown("krum_select") and not shown("trim_ratio")
        page.select_option("#id_aggregator", "trimmed_mean")
        assert shown("trim_ratio") and not shown("krum_select")
        assert not shown("dp_accountant")
        page.check("#id_dp")
        assert shown("dp_accountant") and "pld (privacy loss distributions" in page.inner_text(".field:has(#id_dp_accountant)")
        page.uncheck("#id_dp")
        screenshot(page, "views-form-conditional")

        # alpha typed wrong, then the partition it belongs to given up: it no longer counts.
        page.select_option("#id_partition", "dirichlet")
        page.fill("#id_alpha", "-3")
        page.select_option("#id_partition", "iid")
        page.select_option("#id_dataset", "iris")
        page.fill("#id_clients", "-1")
        page.fill("#id_name", "from the form")
        page.click("button[type=submit]")
        page.wait_for_selector("#error-summary")
        summary = page.inner_text("#error-summary")
        assert "Clients: must be between 1 and 10000" in summary and "Alpha" not in summary, summary
        assert page.evaluate("document.activeElement.id") == "error-summary"
        assert not shown("alpha")  # still hidden after the round trip
        screenshot(page, "views-form-errors", full_page=False)
        page.fill("#id_clients", "3")
        page.fill("#id_rounds", "2")
        page.click("button[type=submit]")
        page.wait_for_url(f"{asgi_server}/experiments/*/")
        experiment = Experiment.objects.get(name="from the form")
        assert experiment.alpha == 0.5 and experiment.partition == "iid" and experiment.aggregator == "trimmed_mean"
        assert experiment.hidden == [32]  # the mlp's default width, the field left empty

        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{asgi_server}/experiments/new/")
        assert overflow(page)["page"] <= 0
        screenshot(page, "views-form-390")
        assert not problems, problems
    finally:
        context.close()


def test_a_comparison_of_unfinished_experiments_fills_in_as_they_train(asgi_server, browser_page):
    page = browser_page
    experiment = experiment_create(name="still training", **SMALL)  # queued: the page keeps refreshing
    page.goto(f"{asgi_server}/compare/?ids={experiment.id}")
    page.wait_for_function("(document.getElementById('compare-loss').data || []).length === 2")
    assert page.inner_text(".best-accuracy") == "–"
    for number in range(3):
        block_mine(batch=round_batch(experiment_run_round(experiment=experiment, number=number)))
    page.wait_for_function("document.querySelector('.rounds').textContent.trim() === '2 / 3'", timeout=15000)
    best = max(experiment.round_set.exclude(number=0).values_list("test_accuracy", flat=True))
    assert page.inner_text(".best-accuracy").startswith(f"{best * 100:.1f} %")
    assert page.inner_text(".final-baseline") != "–"
    assert traces(page, "compare-loss")[0]["x"] == [0, 1, 2]


def test_a_private_experiment_s_page_names_its_accountant_beside_epsilon(asgi_server, browser_page):
    page = browser_page
    experiment = trained("private", dp=True, dp_accountant="pld")
    page.goto(f"{asgi_server}/experiments/{experiment.id}/", wait_until="domcontentloaded")
    assert "DP-FedAvg (noise ×1.0, clip 1.0, pld accountant)" in page.inner_text("#experiment-settings")
    charts_drawn(page, "accuracy-chart")
    epsilon = next(t for t in traces(page, "accuracy-chart") if t["name"].startswith("ε spent"))
    assert epsilon["name"] == "ε spent (δ = 0.00001, pld)"  # JavaScript writes 1e-5 so
    recorded = dict(experiment.round_set.values_list("number", "epsilon"))
    assert len(epsilon["x"]) >= experiment.rounds
    assert dict(zip(epsilon["x"], epsilon["y"])) == {number: recorded[number] for number in epsilon["x"]}
    screenshot(page, "views-experiment-dp-pld", full_page=False)
