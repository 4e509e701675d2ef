"""/api/blocks/ and /blocks/: newest first, paginated by keyset (`before=<height>`), never by offset."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.ledger.models import Block

from .conftest import run_experiment

pytestmark = pytest.mark.django_db


def walk_pages(client, url):
    heights, pages = [], 0
    while url:
        page = client.get(url).json()
        heights += [block["height"] for block in page["blocks"]]
        url = page["next"]
        pages += 1
    return heights, pages


def test_an_empty_chain_has_no_blocks(client, empty_chain):
    assert client.get("/api/blocks/").json() == {"blocks": [], "next_before": None, "next": None}
    assert "The chain is empty" in client.get("/blocks/").content.decode()


def test_one_block(client, genesis_only):
    page = client.get("/api/blocks/").json()
    (block,) = page["blocks"]
    assert block["height"] == 0 and block["hash"] == genesis_only.hash
    assert block["previousblockhash"] is None and block["interval"] is None and block["nTx"] == 1
    assert page["next"] is None


def test_pages_follow_each_other_without_gaps_or_repeats(client, experiment_chain):
    run_experiment(rounds=3)  # heights 4 to 7
    heights, pages = walk_pages(client, "/api/blocks/?limit=3")
    assert heights == list(range(7, -1, -1)) and pages == 3
    page = client.get("/api/blocks/?before=5&limit=2").json()
    assert [b["height"] for b in page["blocks"]] == [4, 3]
    assert page["next_before"] == 3 and page["next"] == "/api/blocks/?before=3&limit=2"


def test_many_blocks_fill_the_default_page(client, db):
    run_experiment(rounds=21)  # genesis and rounds 0..21: heights 0 to 22
    first = client.get("/api/blocks/").json()
    assert len(first["blocks"]) == 20 and first["blocks"][0]["height"] == 22
    heights, pages = walk_pages(client, "/api/blocks/")
    assert heights == list(range(22, -1, -1)) and pages == 2


def test_block_summaries_carry_interval_and_time_to_mine(client, experiment_chain):
    blocks = {b["height"]: b for b in client.get("/api/blocks/").json()["blocks"]}
    stored = {b.height: b for b in Block.objects.filter(status="main")}
    # The genesis block's time is fixed when the chain is created: block 1 has no interval after it.
    assert blocks[1]["interval"] is None and blocks[0]["interval"] is None
    for height in (1, 2, 3):
        if height > 1:
            assert blocks[height]["interval"] == stored[height].time - stored[height - 1].time
        assert blocks[height]["time_to_mine"] == stored[height].mined_seconds
        assert blocks[height]["previousblockhash"] == stored[height - 1].hash
    assert blocks[3]["experiment"] == experiment_chain.id and blocks[3]["round"] == 2


def test_a_page_reads_by_keyset_not_offset(client, experiment_chain):
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/blocks/?before=3&limit=2")
    block_queries = [q["sql"] for q in queries.captured_queries if 'FROM "ledger_block"' in q["sql"]]
    assert block_queries and all("OFFSET" not in sql.upper() for sql in block_queries)
    assert any('"height" < 3' in sql for sql in block_queries)


def test_the_blocks_page_links_to_older_blocks(client, experiment_chain):
    page = client.get("/blocks/?limit=2").content.decode()
    assert 'href="/blocks/3/"' in page and 'href="/blocks/2/"' in page and 'href="/blocks/1/"' not in page
    assert "?before=2&amp;limit=2" in page
    older = client.get("/blocks/?before=2&limit=2").content.decode()
    assert 'href="/blocks/1/"' in older and 'href="/blocks/0/"' in older and "Newest" in older
    assert "No blocks below height 0" in client.get("/blocks/?before=0").content.decode()


def test_difficulty_is_given_in_bits_with_bitcoin_s_difficulty_beside_it(client, experiment_chain):
    import math

    from apps.ledger.pow import bits_to_target
    from apps.ledger.reads import chain_params

    block = Block.objects.get(status="main", height=2)
    summary = client.get("/api/blocks/2/").json()
    target = bits_to_target(block.bits)
    assert summary["work_bits"] == pytest.approx(256 - math.log2(target + 1))
    assert summary["difficulty"] == pytest.approx(chain_params().pow_limit / target)
    assert 0 < summary["work_bits"] < 64
    page = client.get("/blocks/").content.decode()
    assert f"{summary['work_bits']:.1f} bits" in page and "Bitcoin " in page
    assert "after genesis" in page
