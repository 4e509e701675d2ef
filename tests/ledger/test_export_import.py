"""export_chain / import_chain: the file contract, validation before any write, and fork choice by work."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from apps.events.models import Event
from apps.ledger import store, watch
from apps.ledger.models import Block, Checkpoint, PendingBatch, Record

from .conftest import mine_rounds

pytestmark = pytest.mark.django_db


def export(path):
    call_command("export_chain", str(path), stdout=io.StringIO())
    return json.loads(path.read_text())


def import_file(path):
    out = io.StringIO()
    call_command("import_chain", str(path), stdout=out)
    return out.getvalue()


def wipe_chain():
    PendingBatch.objects.all().delete()
    Record.objects.all().delete()
    Checkpoint.objects.all().delete()
    Block.objects.all().delete()


def snapshot():
    return (
        list(Block.objects.order_by("id").values_list("hash", "status")),
        Record.objects.count(),
        list(Checkpoint.objects.order_by("height").values_list("height", "hash", "signature")),
        list(PendingBatch.objects.order_by("id").values_list("status", "block_id")),
    )


def test_the_export_holds_height_hash_raw_header_and_records_in_leaf_order(chain, tmp_path):
    data = export(tmp_path / "chain.json")
    assert data["format"] == "fedchain-chain" and data["version"] == 1
    blocks = data["blocks"]
    assert [b["height"] for b in blocks] == list(range(9))
    assert [b["hash"] for b in blocks[1:]] == [block.hash for block in chain]
    assert all(set(b) == {"height", "hash", "header_hex", "records"} for b in blocks)
    assert blocks[3]["header_hex"] == bytes(chain[2].header).hex()
    assert [json.dumps(r, sort_keys=True) for r in blocks[3]["records"]] == [
        json.dumps(json.loads(body), sort_keys=True) for body in chain[2].records.order_by("position").values_list("body", flat=True)
    ]


def test_a_chain_exported_and_imported_into_an_empty_node_is_the_same_chain(chain, tmp_path):
    data = export(tmp_path / "chain.json")
    wipe_chain()
    assert "imported 8 blocks (replacing 0)" in import_file(tmp_path / "chain.json")
    assert list(Block.objects.filter(status="main").order_by("height").values_list("hash", flat=True)) == [
        b["hash"] for b in data["blocks"]
    ]
    assert watch.chain_verify().valid  # checkpoints were signed for the imported blocks
    assert export(tmp_path / "again.json") == data
    assert "nothing to import" in import_file(tmp_path / "chain.json")  # nothing new


def test_import_extends_a_stored_prefix_of_the_chain(chain, tmp_path):
    export(tmp_path / "chain.json")
    wipe_chain()
    full = json.loads((tmp_path / "chain.json").read_text())
    (tmp_path / "prefix.json").write_text(json.dumps({**full, "blocks": full["blocks"][:4]}))
    import_file(tmp_path / "prefix.json")
    assert "imported 5 blocks (replacing 0)" in import_file(tmp_path / "chain.json")
    assert watch.chain_verify().last_valid_height == 8


def test_where_chains_diverge_the_one_with_more_work_wins(db, tmp_path):
    store.genesis_ensure()
    mine_rounds(1, 3)  # heights 1..3
    mine_rounds(1, 2, start=3)  # heights 4..5: the local tail
    export(tmp_path / "local.json")
    # Another node, from the same first three blocks, mined a heavier tail of another experiment.
    for block in Block.objects.filter(height__gte=4):
        PendingBatch.objects.filter(block=block).delete()
        block.records.all().delete()
        Checkpoint.objects.filter(height=block.height).delete()
        block.delete()
    mine_rounds(2, 3, difficulty_bits=10)  # heights 4..6, more work
    heavier = export(tmp_path / "heavier.json")
    wipe_chain()
    import_file(tmp_path / "local.json")

    assert "imported 3 blocks (replacing 2)" in import_file(tmp_path / "heavier.json")
    assert list(Block.objects.filter(status="main").order_by("height").values_list("hash", flat=True)) == [
        b["hash"] for b in heavier["blocks"]
    ]
    assert Block.objects.filter(status="stale").count() == 2  # the replaced tail is kept, as stale
    reorgs = Event.objects.filter(type="reorg")
    assert reorgs.count() == 1 and reorgs.get().payload["fork"]["height"] == 3  # as a reorganisation from a peer
    assert watch.chain_verify().valid
    before = snapshot()
    with pytest.raises(CommandError, match="diverge at height 4 and the stored chain has at least as much work"):
        import_file(tmp_path / "local.json")
    assert snapshot() == before


def test_a_replaced_blocks_batch_goes_back_to_pending(db, tmp_path):
    store.genesis_ensure()
    mine_rounds(1, 1)
    export(tmp_path / "base.json")
    mine_rounds(2, 2, difficulty_bits=9)
    heavier = export(tmp_path / "heavier.json")
    wipe_chain()
    import_file(tmp_path / "base.json")
    local = mine_rounds(3, 1)[0]  # a lighter local block at height 2
    import_file(tmp_path / "heavier.json")
    batch = PendingBatch.objects.get(experiment_id=3)
    assert (batch.status, batch.block_id) == ("pending", None)
    local.refresh_from_db()
    assert local.status == "stale"
    assert watch.chain_verify().last_valid_hash == heavier["blocks"][-1]["hash"]
    assert store.block_mine(batch=batch).height == 4  # its round goes on the new chain


def rewrite_file(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


BAD_FILES = [
    (lambda d: d["blocks"][3].update(header_hex=d["blocks"][3]["header_hex"][:158]), r"blocks\[3\] \(height 3\): a block header is 80 bytes, got 79"),
    (lambda d: d["blocks"][3].update(header_hex="zz" + d["blocks"][3]["header_hex"][2:]), r"blocks\[3\].*hex characters"),
    (lambda d: d["blocks"][2].update(hash="not-a-hash"), r"blocks\[2\] \(height 2\): a block hash is 64 hex characters"),
    (lambda d: d["blocks"][2].update(hash="0" * 64), "block 2 breaks rule 'hash'"),
    (lambda d: d["blocks"][4]["records"][1].update(client="mallory"), "block 4 breaks rule 'merkle'.*nothing was imported"),
    (lambda d: d["blocks"][4].update(records="none"), r"blocks\[4\].records must be a list"),
    (lambda d: d["blocks"][4]["records"][1]["metrics"].update(loss=float("nan")), "finite"),
    (lambda d: d["blocks"][5].pop("height"), r"blocks\[5\] lacks height"),
    (lambda d: d["blocks"].pop(5), "block 5 is missing"),
    (lambda d: d["blocks"].__setitem__(6, ["not", "an", "object"]), r"blocks\[6\] is not an object"),
    (lambda d: d.update(format="something-else"), "not a FedChain export"),
    (lambda d: d.update(version=99), "version 99 is not supported"),
    (lambda d: d["params"].update(retarget_interval=7), "chain parameters"),
    (lambda d: d.update(blocks=[]), "no blocks"),
]


@pytest.mark.parametrize("change, message", BAD_FILES)
def test_a_bad_import_file_is_refused_clearly_and_changes_nothing(chain, tmp_path, change, message):
    path = tmp_path / "chain.json"
    export(path)
    for block in Block.objects.filter(height__gte=5):  # the node holds a prefix, so a good file would add blocks
        PendingBatch.objects.filter(block=block).update(block=None, status="pending")
        block.records.all().delete()
        Checkpoint.objects.filter(height=block.height).delete()
        block.delete()
    rewrite_file(path, change)
    before = snapshot()
    with pytest.raises(CommandError, match=message) as error:
        import_file(path)
    assert error.value.returncode == 1
    assert snapshot() == before


@pytest.mark.parametrize("content, message", [("{not json", "is not valid JSON"), (b"\xff\xfe", "is not UTF-8 text"), (None, "cannot read")])
def test_an_unreadable_import_file_is_a_clear_error(db, tmp_path, content, message):
    path = tmp_path / "chain.json"
    if isinstance(content, str):
        path.write_text(content)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(CommandError, match=message):
        import_file(path)


def test_export_to_a_missing_directory_is_a_clear_error(chain, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("export_chain", str(tmp_path / "nowhere" / "chain.json"))
