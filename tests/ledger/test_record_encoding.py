"""Record encoding: a round's records are RFC 8785-encoded once where the round is submitted and once where its
block is built; bytes read back from storage are always re-checked for canonical form."""

import json
import math

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from apps.ledger import records, store, watch
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
    encode = records._rfc8785

    def counted(value, **options):
        calls.append(value.get("type") if isinstance(value, dict) else value)
        return encode(value, **options)

    monkeypatch.setattr(records, "_rfc8785", counted)
    return calls


@pytest.mark.django_db
def test_each_record_is_encoded_once_when_submitted_once_when_mined_and_again_by_full_verification(encodings):
    store.genesis_ensure()
    records = round_records(1, 0, clients=5)
    encodings.clear()

    batch = submit_round(1, 0, clients=5)
    assert len(encodings) == len(records) + 1  # the records and the coinbase checked with them

    encodings.clear()
    block = store.block_mine(batch=batch)
    assert block is not None and block.records_count == len(records) + 1
    assert len(encodings) == len(records) + 1  # txids, Merkle leaves, validation and storage share one encoding

    encodings.clear()
    assert watch.chain_verify().valid
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
    store.genesis_ensure()
    records = round_records(1, 0)
    records[1] = {**records[1], "metrics": {"loss": 2.0**60}}  # RFC 8785 would write the integer 1152921504606847000
    with pytest.raises(ValueError, match=r"record 2: record.metrics.loss is 1.152921504606847e\+18: a whole number this large cannot be recorded exactly"):
        store.batch_submit(experiment_id=1, round_number=0, parent_model=None, difficulty_bits=8, records=records)
    assert not PendingBatch.objects.exists()


# The fast encoder against rfc8785 itself: every JSON value must come out byte for byte the same, whichever of the
# two encoders writes it.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_the_fast_encoder_writes_what_rfc8785_writes(value):
    assert records._rfc8785(value) == rfc8785.dumps(value)


@given(st.floats(min_value=1e-5, max_value=1e17) | st.floats(min_value=-1e17, max_value=-1e-5))
def test_floats_around_the_edges_of_plain_notation(number):
    assert records._rfc8785([number, -number / 7, number * 3]) == rfc8785.dumps([number, -number / 7, number * 3])


@pytest.mark.parametrize(
    "value",
    [
        1e-4, 0.00009999999999999999, 1e-7, 4503599627370495.5, 1e16, 1e21, 2.0, -0.0, 0.0, 5e-324,
        1.7976931348623157e308, 0.1 + 0.2, math.pi * 1e15, 2**53 - 1, -(2**53) + 1,
        "a\x00\x1f\x7f\"\\/\n\t\u2028", "\ud800", {"\uffff": 1, "\U0001f600": 2, "a": 3}, {"b": [1.5, {"a": None}]},
    ],
)
def test_values_where_python_and_ecmascript_may_disagree(value):
    assert outcome(records._rfc8785, value) == outcome(rfc8785.dumps, value)


def outcome(encode, value):
    try:
        return encode(value)
    except rfc8785.CanonicalizationError as error:  # a lone surrogate is not UTF-8
        return str(error)


def test_records_are_written_by_the_fast_encoder(monkeypatch):
    def refuse(value):
        raise AssertionError("rfc8785 should not be needed for this record")

    record = round_records(1, 1, clients=1)[0]
    expected = rfc8785.dumps(record)
    monkeypatch.setattr(rfc8785, "dumps", refuse)
    assert canonical_bytes(record) == expected
