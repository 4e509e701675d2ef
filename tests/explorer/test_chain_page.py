"""/chain/: tip, work, difficulty and block intervals (plotly), stale blocks, the last checkpoint, validity."""

import json
import re

import pytest
from django.templatetags.static import static

from apps.ledger.models import Block

pytestmark = pytest.mark.django_db


def chart_data(page):
    match = re.search(r'<script id="chain-history" type="application/json">(.*?)</script>', page, re.S)
    return json.loads(match.group(1)) if match else None


def test_an_empty_chain(client, empty_chain):
    page = client.get("/chain/").content.decode()
    assert "The chain is empty" in page and chart_data(page) is None and "plotly" not in page


def test_a_chain_of_rounds(client, experiment_chain):
    tip = Block.objects.get(status="main", height=3)
    page = client.get("/chain/").content.decode()
    assert tip.hash in page and tip.chainwork in page
    assert "badge ok" in page and "signature valid" in page and "on the chain" in page
    assert "None: no block has lost a mining race" in page
    assert f'src="{static("vendor/plotly/plotly.min.js")}"' in page  # our own copy, content-hashed name
    data = chart_data(page)
    assert data["height"] == [0, 1, 2, 3]
    assert data["difficulty"][0] == 1.0
    assert data["interval"][:2] == [None, None]  # nothing precedes genesis; its time is fixed in the past
    times = dict(Block.objects.filter(status="main").values_list("height", "time"))
    assert data["interval"][2:] == [times[2] - times[1], times[3] - times[2]]


def test_the_charts_follow_the_newest_blocks(client, experiment_chain, settings):
    settings.FEDCHAIN_EXPLORER_CHART_BLOCKS = 2
    data = chart_data(client.get("/chain/").content.decode())
    assert data["height"] == [2, 3] and None not in data["interval"]


def test_an_invalid_chain_names_the_first_invalid_block(client, invalid_chain):
    page = client.get("/chain/").content.decode()
    assert "badge bad" in page and "invalid" in page
    assert 'Block <a href="/blocks/2/">2</a>' in page and "<strong>merkle</strong>" in page


def test_stale_blocks_are_listed(client, stale_block):
    page = client.get("/chain/").content.decode()
    assert f'href="/blocks/{stale_block.hash}/"' in page


def test_the_plotly_script_is_served(client, experiment_chain):
    from django.contrib.staticfiles import finders

    assert finders.find("vendor/plotly/plotly.min.js")
    assert finders.find("explorer/chain.js") and finders.find("explorer/proof.js")
