import json
import math

import pytest

from apps.dashboard.protocol import Hello, ProtocolError, Stream, encode, parse_client_message


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"type": "resume", "after": 0}', Hello(after=0)),
        ('{"type": "resume", "after": 9223372036854775807}', Hello(after=2**63 - 1)),
        ('{"after": 42, "type": "resume"}', Hello(after=42)),
        ('{"type": "snapshot"}', Hello()),
    ],
)
def test_the_two_opening_messages_are_understood(text, expected):
    assert parse_client_message(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "resume",
        "[]",
        "null",
        '"resume"',
        "{}",
        '{"type": "resume"}',
        '{"type": "resume", "after": -1}',
        '{"type": "resume", "after": 9223372036854775808}',
        '{"type": "resume", "after": 1.0}',
        '{"type": "resume", "after": "5"}',
        '{"type": "resume", "after": true}',
        '{"type": "resume", "after": null}',
        '{"type": "resume", "after": 5, "extra": 1}',
        '{"type": "snapshot", "after": 5}',
        '{"type": "subscribe"}',
        '{"type": ["resume"], "after": 1}',
        '{"type": "resume", "after": 1' + " " * 300 + "}",
        '{"type": "resume", "after": 1e400}',
        '{"type": "resume", "after": NaN}',
    ],
)
def test_anything_else_is_refused(text):
    with pytest.raises(ProtocolError):
        parse_client_message(text)


def test_binary_frames_are_refused():
    with pytest.raises(ProtocolError):
        parse_client_message(None, b'{"type": "snapshot"}')


def test_the_overview_stream_leaves_out_per_client_detail_and_an_experiment_stream_keeps_its_own():
    overview, experiment = Stream(), Stream(experiment_id=7)
    assert overview.wants("round", 7) and overview.wants("block", None) and overview.wants("chain_status", None)
    assert not overview.wants("client_update", 7)
    assert experiment.wants("client_update", 7) and experiment.wants("chain_status", None)
    assert not experiment.wants("round", 8)


def test_a_diverged_loss_becomes_null_instead_of_invalid_json():
    text = encode({"seq": 1, "data": {"loss": math.inf, "accuracy": math.nan, "series": [1.5, -math.inf]}})
    assert json.loads(text) == {"seq": 1, "data": {"loss": None, "accuracy": None, "series": [1.5, None]}}
