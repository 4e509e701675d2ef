"""Each block's difficulty on the explorer's pages: bits of work (log2 of the expected hashes), with Bitcoin's
difficulty beside it, the same figures as the API gives."""

import pytest
from django.template.defaultfilters import floatformat

from apps.ledger.models import Block

pytestmark = pytest.mark.django_db


def shown(block_json):
    return (f'{floatformat(block_json["work_bits"], 1)} bits</span> <span class="muted bitcoin-difficulty">· Bitcoin '
            f'{floatformat(block_json["difficulty"], "-4")}</span>')


def test_the_block_list_block_page_and_chain_page_show_bits_and_bitcoin_difficulty(client, experiment_chain):
    tip = Block.objects.filter(status="main").order_by("-height").first()
    block_json = client.get(f"/api/blocks/{tip.hash}/").json()
    assert block_json["work_bits"] > 0 and block_json["difficulty"] >= 1
    for url in ("/blocks/", f"/blocks/{tip.height}/", "/chain/"):
        page = client.get(url).content.decode()
        assert shown(block_json) in page, url
        assert f'takes about 2^{floatformat(block_json["work_bits"], 1)} hashes on average' in page, url


def test_a_block_without_a_target_shows_a_dash(client, experiment_chain):
    tip = Block.objects.filter(status="main").order_by("-height").first()
    Block.objects.filter(pk=tip.pk).update(bits=0xFF123456)  # a target beyond 256 bits: no work, no difficulty
    row = client.get("/blocks/").content.decode().split("<tbody>")[1].split("</tr>")[0]
    assert "bits</span>" not in row and "—" in row
