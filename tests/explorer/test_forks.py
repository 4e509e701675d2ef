"""Forks on /chain/ and in /api/chain/: each stale branch beside the main blocks it lost to, and who mined each
block (the node whose signed claim came with it) on the block pages."""

import pytest

from apps.core.keys import node_id
from apps.ledger.models import Block

pytestmark = pytest.mark.django_db


def test_a_stale_branch_is_shown_beside_the_main_block_it_lost_to(client, stale_block):
    winner = Block.objects.get(status="main", height=stale_block.height)
    page = client.get("/chain/").content.decode()
    fork_section = page[page.index('id="forks"') :]
    assert f'Forks from block <a href="/blocks/{stale_block.height - 1}/">{stale_block.height - 1}</a>' in fork_section
    assert fork_section.index(f'href="/blocks/{winner.hash}/"') < fork_section.index(f'href="/blocks/{stale_block.hash}/"')
    assert "no block has lost a mining race" not in page


def test_the_api_describes_each_branch_from_its_fork_point(client, stale_block):
    winner = Block.objects.get(status="main", height=stale_block.height)
    parent = Block.objects.get(status="main", height=stale_block.height - 1)
    (branch,) = client.get("/api/chain/").json()["forks"]
    assert branch["fork"] == {"height": parent.height, "hash": parent.hash, "mined_by": parent.mined_by or None}
    assert branch["length"] == 1
    (row,) = branch["blocks"]
    assert row["hash"] == stale_block.hash and row["height"] == stale_block.height
    assert row["main"]["hash"] == winner.hash
    assert row["experiment"] == stale_block.experiment_id and row["round"] == stale_block.round_number


def test_a_branch_of_stale_blocks_is_one_fork_however_long(client, stale_block):
    """Two stale blocks, one on the other, are one branch of length 2 from the main block under the first."""
    winner = Block.objects.get(status="main", height=stale_block.height)
    Block.objects.filter(pk=winner.pk).update(status="stale")  # both now lost: the chain's tip is below them
    above = Block.objects.create(
        **{
            field.attname: getattr(stale_block, field.attname)
            for field in Block._meta.concrete_fields
            if field.attname not in ("id", "hash", "height", "prev_hash", "created_at")
        },
        hash="ab" * 32,
        height=stale_block.height + 1,
        prev_hash=stale_block.hash,
    )
    branches = client.get("/api/chain/").json()["forks"]
    by_length = {branch["length"]: branch for branch in branches}
    assert set(by_length) == {1, 2}
    assert [row["hash"] for row in by_length[2]["blocks"]] == [stale_block.hash, above.hash]
    assert by_length[2]["fork"]["height"] == stale_block.height - 1
    assert by_length[1]["blocks"][0]["hash"] == winner.hash and by_length[1]["blocks"][0]["main"] is None


def test_blocks_mined_here_name_this_node_and_unknown_miners_say_so(client, stale_block):
    assert stale_block.mined_by == node_id()
    page = client.get(f"/blocks/{stale_block.hash}/").content.decode()
    assert f'title="node {node_id()}"' in page and "this node" in page
    assert client.get(f"/api/blocks/{stale_block.hash}/").json()["mined_by"] == node_id()

    Block.objects.filter(pk=stale_block.pk).update(mined_by="", mined_signature="")
    page = client.get(f"/blocks/{stale_block.hash}/").content.decode()
    assert "this node" not in page[page.index("Mined by") :][:400] and "unknown" in page
    assert client.get(f"/api/blocks/{stale_block.hash}/").json()["mined_by"] is None
    listing = client.get("/blocks/").content.decode()
    assert "Mined by" in listing and "this node" in listing  # the main blocks, mined here
