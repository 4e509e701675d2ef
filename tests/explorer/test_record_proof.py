"""/api/tx/<txid>/, its /proof/ and /tx/<txid>/: the record, its block and its Merkle inclusion proof."""

import hashlib

import pytest
from django.templatetags.static import static

from apps.ledger.merkle import InclusionProof, verify_inclusion_hash
from apps.ledger.models import Record

pytestmark = pytest.mark.django_db


def update_record(round_number=2, client_index=1):
    return next(
        row
        for row in Record.objects.filter(type="client_update", round_number=round_number, block__status="main")
        if f'"client":{client_index},' in row.body
    )


def test_a_record_with_its_block(client, experiment_chain):
    row = update_record()
    tx = client.get(f"/api/tx/{row.txid}/").json()
    data = bytes.fromhex(tx["hex"])
    assert hashlib.sha256(data).hexdigest() == tx["txid"] == row.txid
    assert tx["record"]["type"] == tx["type"] == "client_update" and tx["record"]["client"] == 1
    assert tx["height"] == 3 and tx["blockhash"] == row.block.hash and tx["index"] == row.position
    assert tx["confirmations"] == 1 and tx["blocktime"] == row.block.time


def test_every_proof_leads_to_the_root_in_the_block_header(client, experiment_chain):
    for row in Record.objects.filter(block__status="main"):
        proof = client.get(f"/api/tx/{row.txid}/proof/").json()
        header = bytes.fromhex(client.get(f"/api/blocks/{proof['blockhash']}/").json()["header_hex"])
        root = header[36:68]  # the Merkle root as the header commits it
        leaf = hashlib.sha256(b"\x00" + row.body.encode()).digest()
        assert proof["leaf_hash"] == leaf.hex() and proof["merkleroot"] == root.hex()
        assert proof["tree_size"] == row.block.records_count and proof["leaf_index"] == row.position
        assert proof["verified"] is True
        assert verify_inclusion_hash(leaf, InclusionProof.from_dict(proof), root)


def test_a_proof_for_an_edited_record_does_not_verify(client, experiment_chain, tamper_record):
    txid = tamper_record(2, 2, accepted=False)
    assert client.get(f"/api/tx/{txid}/proof/").json()["verified"] is False
    page = client.get(f"/tx/{txid}/").content.decode()
    assert "does not verify" in page and "badge bad" in page


def test_a_single_record_block_has_an_empty_audit_path(client, genesis_only):
    txid = genesis_only.records.get().txid
    proof = client.get(f"/api/tx/{txid}/proof/").json()
    assert proof["audit_path"] == [] and proof["tree_size"] == 1 and proof["verified"] is True
    assert proof["leaf_hash"] == proof["merkleroot"]
    page = client.get(f"/tx/{txid}/").content.decode()
    assert "the record is the block's only leaf" in page and "badge ok" in page


def test_the_record_page_shows_the_record_and_its_proof(client, experiment_chain):
    row = update_record()
    proof = client.get(f"/api/tx/{row.txid}/proof/").json()
    page = client.get(f"/tx/{row.txid}/").content.decode()
    assert "badge ok" in page and "verified" in page
    assert row.body.encode().hex() in page
    for node in proof["audit_path"]:
        assert f'<li class="audit-node">{node}</li>' in page
    assert f'href="/blocks/{row.block.hash}/"' in page
    assert f'href="/experiments/{experiment_chain.id}/rounds/2/"' in page
    assert f'src="{static("explorer/proof.js")}"' in page  # our own file, under its content-hashed name


def test_a_record_mined_twice_is_shown_in_its_main_chain_block(client, stale_block):
    # The stale block holds the same records as the block that won its height.
    row = stale_block.records.get(type="global_model")
    tx = client.get(f"/api/tx/{row.txid}/").json()
    assert tx["height"] == stale_block.height and tx["blockhash"] != stale_block.hash
    assert tx["confirmations"] == 1
