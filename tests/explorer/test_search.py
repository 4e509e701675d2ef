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
        ("9" * 40, "no block, record or model hash starts with it"),
        ("abc", "a search takes a block height"),
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


def test_a_unique_hash_prefix_goes_to_its_page(client, experiment_chain):
    record = Record.objects.filter(block__height=2).last()
    prefixes = {r[:8] for r in Record.objects.values_list("txid", flat=True)}
    assert len(prefixes) == Record.objects.count()  # eight digits name each record here
    others = [
        *Block.objects.values_list("hash", flat=True),
        *Round.objects.values_list("global_model_hash", flat=True),
        *ClientUpdate.objects.values_list("update_hash", flat=True),
    ]
    prefix = next(
        record.txid[:n] for n in range(8, 64) if not any(h.startswith(record.txid[:n]) for h in others)
    )
    assert destination(client, prefix.upper()) == f"/tx/{record.txid}/"


def test_a_prefix_of_several_hashes_lists_them(client, db):
    from apps.federated.selectors import round_batch
    from apps.federated.services import experiment_create, experiment_run_round
    from apps.ledger.store import block_mine

    # At 16 bits of work every block hash starts with four zeros.
    experiment = experiment_create(dataset="iris", clients=2, rounds=1, difficulty_bits=16)
    for number in (0, 1):
        block_mine(batch=round_batch(experiment_run_round(experiment=experiment, number=number)))
    assert Block.objects.filter(hash__startswith="0000").count() >= 2
    response = client.get("/search", {"q": "0000"})
    assert response.status_code == 200
    page = response.content.decode()
    for block in Block.objects.filter(hash__startswith="0000"):
        assert f"/blocks/{block.hash}/" in page
    assert 'id="prefix-matches"' in page


def test_a_prefix_list_is_bounded(experiment_chain):
    from apps.explorer import selectors

    assert Block.objects.filter(hash__startswith="00").count() > 2  # the pow limit's leading zeros
    found, cut = selectors.prefix_matches("00", limit=2)
    assert cut and len([m for m in found if m["kind"] == "block"]) == 2
