"""Every view of a block or a round that is, or stands on, an invalid block says so: the /blocks/ rows, the
rounds (API and round page), and /chain/'s checkpoint, not only the badge and the bad block's own page.
(invalid_chain: block 2 of heights 0..3 has an edited record; rounds 0, 1, 2 sit at heights 1, 2, 3.)"""

import re

import pytest

pytestmark = pytest.mark.django_db


def test_block_rows_at_and_above_the_invalid_block_are_marked(client, invalid_chain):
    blocks = client.get("/api/blocks/").json()["blocks"]
    assert {row["height"]: row["valid"] for row in blocks} == {3: False, 2: False, 1: True, 0: True}
    page = client.get("/blocks/").content.decode()
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    marked = {int(re.search(r'/blocks/(\d+)/', row).group(1)) for row in rows if ">invalid</span>" in row}
    assert marked == {2, 3}


def test_a_valid_chain_marks_nothing(client, experiment_chain):
    assert all(row["valid"] for row in client.get("/api/blocks/").json()["blocks"])
    assert ">invalid</span>" not in client.get("/blocks/").content.decode()
    assert "invalid chain" not in client.get(f"/experiments/{experiment_chain.id}/rounds/2/").content.decode()


def test_rounds_on_the_invalid_block_or_above_say_so(client, experiment_chain, invalid_chain):
    rounds = client.get(f"/api/experiments/{experiment_chain.id}/rounds/").json()["rounds"]
    assert [(r["round"], r["valid"]) for r in rounds] == [(0, True), (1, False), (2, False)]
    for number, shown in ((0, False), (1, True), (2, True)):
        page = client.get(f"/experiments/{experiment_chain.id}/rounds/{number}/").content.decode()
        assert ("invalid chain" in page) is shown, number


def test_the_last_checkpoint_on_an_invalid_chain_is_not_shown_as_all_good(client, invalid_chain):
    checkpoint = client.get("/api/chain/").json()["checkpoint"]
    assert (checkpoint["height"], checkpoint["signature_valid"], checkpoint["on_chain"]) == (3, True, True)
    assert checkpoint["block_valid"] is False
    assert "the block it names is invalid or stands on an invalid block" in client.get("/chain/").content.decode()
