"""A reorganisation applied live on the dashboard from its one `reorg` event: the blocks that left the main chain
leave the newest blocks, the heavier branch's blocks take their places."""

import pytest

from apps.events.models import Event
from apps.events.services import event_emit
from apps.federated.services import experiment_create
from apps.ledger.models import Block
from apps.ledger.reads import block_payload

from .conftest import screenshot
from .test_browser import SMALL, block_heights, run_round

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_reorganisation_replaces_the_newest_blocks_live(asgi_server, browser_page):
    page = browser_page
    experiment = experiment_create(name="reorganised", **SMALL)
    for number in range(2):
        run_round(experiment, number)
    tip = Block.objects.filter(status="main").order_by("-height").first()
    page.goto(f"{asgi_server}/")
    page.wait_for_selector("#live-status[data-state=live]")
    assert block_heights(page)[0] == tip.height

    replacement = {**block_payload(tip), "hash": "e" * 64, "status": "stale"}  # as it was stored, before the switch
    above = {**replacement, "hash": "f" * 64, "height": tip.height + 1, "previousblockhash": "e" * 64}
    event_emit(type=Event.Type.REORG, payload={
        "fork": {"height": tip.height - 1, "hash": tip.prev_hash},
        "old_tip": {"height": tip.height, "hash": tip.hash, "chainwork": tip.chainwork},
        "new_tip": {"height": tip.height + 1, "hash": "f" * 64, "chainwork": tip.chainwork},
        "stale": [{**block_payload(tip), "status": "stale"}],
        "main": [replacement, above],
    })
    page.wait_for_function(f"document.querySelector('#blocks tr').dataset.height === '{tip.height + 1}'", timeout=3000)
    assert page.eval_on_selector(f'#blocks tr[data-height="{tip.height}"] a', "a => a.title") == "e" * 64
    assert tip.hash not in page.inner_html("#blocks")
    screenshot(page, "overview-reorganised")
