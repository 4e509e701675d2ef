"""Record encoding: a round's records are RFC 8785-encoded once where the round is submitted and once where its
block is built; bytes read back from storage are always re-checked for canonical form."""

import json

import pytest
import rfc8785

from apps.ledger import services
from apps.ledger.genesis import BLOCK_VERSION, genesis_block
from apps.ledger.header import BlockHeader
from apps.ledger.merkle import merkle_root
from apps.ledger.models import PendingBatch, Record
from apps.ledger.params import ChainParams
from apps.ledger.pow import search
from apps.ledger.records import canonical_bytes, coinbase_record
from apps.ledger.retarget import block_bits
from apps.ledger.rules import BlockData, BlockRejected, Rules

from .conftest import round_records, submit_round


@pytest.fixture
def encodings(monkeypatch):
    """Counts RFC 8785 encodings (the costly step of recording)."""
    calls = []
    encode = rfc8785.dumps

    def counted(value):
        calls.append(value.get("type") if isinstance(value, dict) else value)
        return encode(value)

    monkeypatch.setattr(rfc8785, "dumps", counted)
    return calls


@pytest.mark.django_db
def test_each_record_is_encoded_once_when_submitted_once_when_mined_and_again_by_full_verification(encodings):
    services.genesis_ensure()
    records = round_records(1, 0, clients=5)
    encodings.clear()

    batch = submit_round(1, 0, clients=5)
    assert len(encodings) == len(records) + 1  # the records and the coinbase checked with them

    encodings.clear()
    block = services.block_mine(batch=batch)
    assert block is not None and block.records_count == len(records) + 1
    assert len(encodings) == len(records) + 1  # txids, Merkle leaves, validation and storage share one encoding

    encodings.clear()
    assert services.chain_verify().valid
    # Every stored body is re-encoded and compared (genesis is compared with its fixed bytes instead).
    assert len(encodings) == Record.objects.exclude(block__height=0).count() == len(records) + 1


def test_stored_bytes_that_are_not_canonical_are_refused_even_when_mined_into_a_valid_header():
    params = ChainParams()
    genesis = genesis_block(params)
    rules = Rules(params, now=genesis.header.time + 3600)
    tip = rules.check(BlockData(0, genesis.header_bytes, genesis.record_bytes), None, lambda _: None).tip(None, params)
    coinbase = coinbase_record(height=1, experiment_id=1, round_number=0, parent_model=None, difficulty_bits=8)
    body = [canonical_bytes(record) for record in [coinbase, *round_records(1, 0)]]
    body[2] = json.dumps(json.loads(body[2]), indent=1).encode()  # the same record, not its canonical bytes
    header = BlockHeader(
        BLOCK_VERSION, genesis.digest, merkle_root(body), genesis.header.time + 1,
        block_bits(required=params.pow_limit_compact, difficulty_bits=8), 0,
    )
    mined = search(header).header.serialize()

    with pytest.raises(BlockRejected) as rejected:
        rules.check(BlockData(1, mined, body), tip, lambda _: None)
    assert (rejected.value.rule, rejected.value.height) == ("records", 1)
    assert "canonical form" in rejected.value.message


@pytest.mark.django_db
def test_a_float_that_reads_back_as_an_integer_beyond_json_range_is_refused_when_submitted():
    services.genesis_ensure()
    records = round_records(1, 0)
    records[1] = {**records[1], "metrics": {"loss": 2.0**60}}  # written as the integer 1152921504606847000
    with pytest.raises(ValueError, match=r"record 2 is not a canonical JSON record: the number 1152921504606847000 is beyond"):
        services.batch_submit(experiment_id=1, round_number=0, parent_model=None, difficulty_bits=8, records=records)
    assert not PendingBatch.objects.exists()
