"""/search?q=: a height, block hash, txid or model hash goes straight to its page; nothing found says so."""

import pytest

from apps.federated.models import ClientUpdate, Round
from apps.ledger.models import Block, Record

pytestmark = pytest.mark.django_db


def destination(client, query):
    response = client.get("/search", {"q": query})
    assert response.status_code == 302, response.content[:300]
    return response["Location"]


def test_each_kind_of_name_goes_to_its_page(client, experiment_chain):
    block = Block.objects.get(status="main", height=2)
    record = Record.objects.filter(block=block).last()
    model = Round.objects.get(experiment=experiment_chain, number=1).global_model_hash
    update = ClientUpdate.objects.filter(round__number=2).first().update_hash
    assert destination(client, "2") == "/blocks/2/"
    assert destination(client, f"  {block.hash.upper()} ") == f"/blocks/{block.hash}/"
    assert destination(client, record.txid) == f"/tx/{record.txid}/"
    assert destination(client, model) == f"/experiments/{experiment_chain.id}/rounds/1/"
    assert destination(client, update) == f"/experiments/{experiment_chain.id}/rounds/2/"


@pytest.mark.parametrize(
    "query, says",
    [
        ("99", "no block on the main chain has this height"),
        ("ab" * 32, "no block, record or model has this hash"),
        ("<script>alert(1)</script>", "a search takes a block height"),
        ("9" * 40, "a search takes a block height"),
        ("", "Type a block height"),
    ],
)
def test_nothing_found_says_so(client, experiment_chain, query, says):
    response = client.get("/search", {"q": query})
    assert response.status_code == 200
    page = response.content.decode()
    assert says in page
    assert "<script>alert(1)</script>" not in page


def test_search_on_an_empty_chain(client, empty_chain):
    assert "no block on the main chain has this height" in client.get("/search?q=0").content.decode()
