"""Records: RFC 8785 canonical bytes, txids, and builders that refuse what cannot be recorded."""

import hashlib
import math

import pytest

from apps.ledger.records import (
    canonical_bytes,
    client_update_record,
    coinbase_record,
    experiment_record,
    global_model_record,
    parse_canonical,
    reward_record,
    txid,
)

MODEL = "ab" * 32


def test_canonical_bytes_sort_keys_and_format_numbers_as_rfc_8785_says():
    record = {"type": "x", "b": [1.0, 0.1, 1e21, -0.0], "a": {"z": True, "é": None}, "c": "\u2028"}
    assert canonical_bytes(record) == '{"a":{"z":true,"é":null},"b":[1,0.1,1e+21,0],"c":"\u2028","type":"x"}'.encode()


def test_txid_is_the_sha256_of_the_canonical_bytes():
    record = coinbase_record(height=3, experiment_id=1, round_number=2, parent_model=MODEL, difficulty_bits=12)
    assert txid(record) == hashlib.sha256(canonical_bytes(record)).hexdigest()
    reordered = dict(reversed(list(record.items())))
    assert txid(reordered) == txid(record)


def test_builders_make_the_documented_shapes():
    assert coinbase_record(height=5, experiment_id=2, round_number=0, parent_model=None, difficulty_bits=12) == {
        "type": "coinbase", "height": 5, "experiment": 2, "round": 0, "parent_model": None, "difficulty_bits": 12,
    }
    assert experiment_record(experiment_id=2, config={"rounds": 3}) == {
        "type": "experiment", "experiment": 2, "config": {"rounds": 3},
    }
    update = client_update_record(
        experiment_id=2, round_number=1, client="c1", samples=10, update=MODEL, metrics={"loss": 0.5}, accepted=False,
        reason="krum",
    )
    assert update == {
        "type": "client_update", "experiment": 2, "round": 1, "client": "c1", "samples": 10, "update": MODEL,
        "metrics": {"loss": 0.5}, "accepted": False, "reason": "krum",
    }
    assert global_model_record(
        experiment_id=2, round_number=1, model=MODEL, aggregator="fedavg", loss=0.25, accuracy=0.5
    )["model"] == MODEL
    assert reward_record(experiment_id=2, round_number=1, client=3, amount=2)["amount"] == 2
    for record in (update,):
        assert parse_canonical(canonical_bytes(record)) == record


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_wherever_they_hide(bad):
    with pytest.raises(ValueError, match="finite"):
        global_model_record(experiment_id=1, round_number=0, model=MODEL, aggregator="fedavg", loss=bad, accuracy=0.5)
    with pytest.raises(ValueError, match="finite"):
        client_update_record(
            experiment_id=1, round_number=0, client="c", samples=1, update=MODEL, metrics={"x": [1, {"y": bad}]},
            accepted=True,
        )
    with pytest.raises(ValueError, match="finite"):
        canonical_bytes({"type": "x", "value": bad})


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: coinbase_record(height=-1, experiment_id=1, round_number=0, parent_model=None, difficulty_bits=8), "height"),
        (lambda: coinbase_record(height=1, experiment_id=1, round_number=None, parent_model=None, difficulty_bits=8), "both"),
        (lambda: coinbase_record(height=1, experiment_id=1, round_number=1, parent_model="xyz", difficulty_bits=8), "parent_model"),
        (lambda: global_model_record(experiment_id=1, round_number=0, model=MODEL.upper(), aggregator="a", loss=1, accuracy=1), "model"),
        (lambda: client_update_record(experiment_id=1, round_number=0, client="", samples=1, update=MODEL, metrics={}, accepted=True), "client"),
        (lambda: client_update_record(experiment_id=1, round_number=0, client="c", samples=1, update=MODEL, metrics={}, accepted=1), "accepted"),
        (lambda: reward_record(experiment_id=1, round_number=0, client="c", amount=-1), "negative"),
        (lambda: experiment_record(experiment_id=True, config={}), "experiment_id"),
        (lambda: canonical_bytes({"no": "type"}), "type"),
        (lambda: canonical_bytes({"type": "x", "big": 2**60}), "canonicalized"),
        (lambda: canonical_bytes([1, 2]), "object"),
    ],
)
def test_bad_record_input_gets_a_clear_error(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("text", [b'{"type":"x", "a":1}', b'{"a":1,"type":"x"', b'{"type":"x","a":1.0}', b'[1]', b'\xff'])
def test_parse_canonical_refuses_anything_but_the_canonical_form(text):
    with pytest.raises(ValueError):
        parse_canonical(text)
