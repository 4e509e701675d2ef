"""Block records: JSON objects in RFC 8785 canonical form; a record's txid is the SHA-256 of those bytes.

Every record has a "type". The coinbase is always a block's first record and commits its height, experiment,
round, the parent global model and the difficulty the experiment asked for. Builders validate their input so that
nothing that cannot be canonicalized (NaN, infinities, integers beyond 2**53) is ever submitted.
"""

import hashlib
import json
import math
import re

import rfc8785

COINBASE = "coinbase"
EXPERIMENT = "experiment"
CLIENT_UPDATE = "client_update"
GLOBAL_MODEL = "global_model"
REWARD = "reward"
# A reward's kind: for an accepted update's samples (to its client), or for a mined block (to the miner node,
# named by its public key id).
DATA_REWARD = "data"
MINING_REWARD = "mining"
REWARD_KINDS = (DATA_REWARD, MINING_REWARD)
RECORD_TYPES = (COINBASE, EXPERIMENT, CLIENT_UPDATE, GLOBAL_MODEL, REWARD)

# The fields each type must carry (more are allowed); what the chain rules rely on.
REQUIRED_FIELDS = {
    COINBASE: ("height", "experiment", "round", "parent_model", "difficulty_bits"),
    EXPERIMENT: ("experiment", "config"),
    CLIENT_UPDATE: ("experiment", "round", "client", "samples", "update", "metrics", "accepted"),
    GLOBAL_MODEL: ("experiment", "round", "model", "aggregator", "loss", "accuracy"),
    REWARD: ("experiment", "round", "client", "amount"),
}

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_MAX_EXACT_INTEGER = 2**53 - 1  # RFC 8785 refuses integers beyond what a float64 holds exactly


def canonical_bytes(record) -> bytes:
    """The record's RFC 8785 bytes: what its Merkle leaf and txid are computed from.

    Encoding is the costly step of recording: callers encode a record once and pass its bytes on.
    """
    if not isinstance(record, dict):
        raise ValueError(f"a record is a JSON object, got {type(record).__name__}")
    if not isinstance(record.get("type"), str) or not record["type"]:
        raise ValueError("a record needs a non-empty string 'type'")
    try:
        return _rfc8785(record, recordable=True)
    except rfc8785.CanonicalizationError as error:
        _check_finite(record, "record")  # names where a non-finite number hides
        raise ValueError(f"record cannot be canonicalized: {error}") from None
    except RecursionError:
        raise ValueError("record is nested too deeply") from None


def _rfc8785(value, *, recordable=False) -> bytes:
    """RFC 8785 bytes of a JSON value. The standard library's encoder (in C, four times faster than rfc8785's)
    writes the very same bytes when its sorted keys and strings are ASCII, its integers within 2**53 and its
    floats spelled alike by Python and ECMAScript; other values go to rfc8785. `recordable` also refuses what
    rfc8785 writes but a record cannot hold (see _check_finite)."""
    if _spelled_alike(value):
        return _FAST_ENCODER.encode(value).encode()
    if recordable:
        _check_finite(value, "record")
    return rfc8785.dumps(value)


# ensure_ascii=False: with True, json would also escape DEL (0x7f), which RFC 8785 writes as it is.
_FAST_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _spelled_alike(value) -> bool:
    """Whether json.dumps spells `value` as RFC 8785 does. Strings: both escape only '"', '\\' and control
    characters, alike (\\n, \\u001f), and keys of ASCII sort the same by code point as by UTF-16 unit.
    Floats: both write the shortest digits that round-trip; Python in plain notation from 1e-4 to 1e16 and
    ECMAScript from 1e-6 to 1e21, except integral ones (Python writes 2.0, ECMAScript 2)."""
    if isinstance(value, str):
        return value.isascii()
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_MAX_EXACT_INTEGER <= value <= _MAX_EXACT_INTEGER
    if isinstance(value, float):
        return 1e-4 <= abs(value) < 1e16 and not value.is_integer()
    if isinstance(value, dict):
        return all(isinstance(key, str) and key.isascii() and _spelled_alike(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return all(_spelled_alike(item) for item in value)
    return False


def txid(record) -> str:
    return txid_of_bytes(canonical_bytes(record))


def txid_of_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_record(data: bytes) -> dict:
    """The record in `data` without encoding it again to compare: only for bytes that `canonical_bytes` has
    just produced. Bytes read from storage or received go through `parse_canonical`.

    Such bytes fail that comparison in one way only: a float from 2**53 up to 1e21 is written as an integer
    literal, which reads back as an integer beyond JSON's exact range. That is refused here too."""
    try:
        record = _DECODER.decode(bytes(data).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"not JSON: {error}") from None
    except RecursionError:
        raise ValueError("not a record: nested too deeply") from None
    if not isinstance(record, dict) or not isinstance(record.get("type"), str) or not record["type"]:
        raise ValueError("a record is a JSON object with a non-empty string 'type'")
    return record


def _exact_integer(literal: str) -> int:
    value = int(literal)
    if abs(value) > _MAX_EXACT_INTEGER:
        raise ValueError(f"the number {literal} is beyond the integers JSON holds exactly (2**53 - 1)")
    return value


# Built once: json.loads with a keyword argument builds a decoder on every call.
_DECODER = json.JSONDecoder(parse_int=_exact_integer)


def parse_canonical(data: bytes) -> dict:
    """The record encoded by `data`, which must be exactly its canonical form; ValueError otherwise."""
    record = parse_record(data)
    try:
        encoded = _rfc8785(record)  # refuses NaN and infinities itself
    except rfc8785.CanonicalizationError as error:
        raise ValueError(f"record cannot be canonicalized: {error}") from None
    if encoded != bytes(data):
        raise ValueError("not in RFC 8785 canonical form")
    return record


def _check_finite(value, where):
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} is {value}: only finite numbers can be recorded")
    if isinstance(value, float) and abs(value) > _MAX_EXACT_INTEGER and value.is_integer() and abs(value) < 1e21:
        # RFC 8785 writes it as an integer literal, which reads back beyond the integers JSON holds exactly.
        raise ValueError(f"{where} is {value!r}: a whole number this large cannot be recorded exactly")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} has a non-string key {key!r}")
            _check_finite(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for position, item in enumerate(value):
            _check_finite(item, f"{where}[{position}]")


def is_sha256_hex(value) -> bool:
    return isinstance(value, str) and _SHA256_HEX.fullmatch(value) is not None


def _integer(name, value, minimum=0):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _number(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def _digest(name, value):
    if not is_sha256_hex(value):
        raise ValueError(f"{name} must be a SHA-256 digest in lowercase hex (64 characters), got {value!r}")
    return value


def _client(value):
    if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
        raise ValueError(f"client must be a non-empty string or an integer, got {value!r}")
    return value


def _mapping(name, value):
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a JSON object, got {type(value).__name__}")
    _check_finite(value, name)
    return dict(value)


def coinbase_record(*, height, experiment_id, round_number, parent_model, difficulty_bits) -> dict:
    """The first record of every block. experiment_id and round_number are None only in the genesis block."""
    if (experiment_id is None) != (round_number is None):
        raise ValueError("a coinbase names both an experiment and a round, or neither (genesis)")
    return {
        "type": COINBASE,
        "height": _integer("height", height),
        "experiment": None if experiment_id is None else _integer("experiment_id", experiment_id),
        "round": None if round_number is None else _integer("round_number", round_number),
        "parent_model": None if parent_model is None else _digest("parent_model", parent_model),
        "difficulty_bits": _integer("difficulty_bits", difficulty_bits),
    }


def experiment_record(*, experiment_id, config: dict) -> dict:
    """The experiment's configuration, committed once in its round-0 block."""
    return {"type": EXPERIMENT, "experiment": _integer("experiment_id", experiment_id), "config": _mapping("config", config)}


def client_update_record(
    *, experiment_id, round_number, client, samples, update, metrics: dict, accepted: bool, reason: str = ""
) -> dict:
    """One client's update in a round: `update` is the SHA-256 hex of the update's bytes.

    Only what the training determines: who trained it (host, process) is the database's ClientUpdate.worker,
    never the chain's, so the same settings and seed give the same records byte for byte."""
    if not isinstance(accepted, bool):
        raise ValueError(f"accepted must be true or false, got {accepted!r}")
    if not isinstance(reason, str):
        raise ValueError("reason must be a string")
    return {
        "type": CLIENT_UPDATE,
        "experiment": _integer("experiment_id", experiment_id),
        "round": _integer("round_number", round_number),
        "client": _client(client),
        "samples": _integer("samples", samples),
        "update": _digest("update", update),
        "metrics": _mapping("metrics", metrics),
        "accepted": accepted,
        "reason": reason,
    }


def global_model_record(*, experiment_id, round_number, model, aggregator, loss, accuracy, privacy=None) -> dict:
    """The round's new global model: `model` is the SHA-256 hex of its serialized parameters. `privacy`, under
    differential privacy: {"epsilon": spent after this round, "delta": at which}."""
    if not isinstance(aggregator, str) or not aggregator:
        raise ValueError(f"aggregator must be a non-empty string, got {aggregator!r}")
    record = {
        "type": GLOBAL_MODEL,
        "experiment": _integer("experiment_id", experiment_id),
        "round": _integer("round_number", round_number),
        "model": _digest("model", model),
        "aggregator": aggregator,
        "loss": _number("loss", loss),
        "accuracy": _number("accuracy", accuracy),
    }
    if privacy is not None:
        record["privacy"] = {"epsilon": _number("epsilon", privacy["epsilon"]), "delta": _number("delta", privacy["delta"])}
    return record


def reward_record(*, experiment_id, round_number, client, amount, kind=None) -> dict:
    """A reward of `amount` to `client`: a client's index (a data reward) or a node's public key id (a mining
    reward)."""
    amount = _number("amount", amount)
    if amount < 0:
        raise ValueError(f"amount must not be negative, got {amount!r}")
    record = {
        "type": REWARD,
        "experiment": _integer("experiment_id", experiment_id),
        "round": _integer("round_number", round_number),
        "client": _client(client),
        "amount": amount,
    }
    if kind is not None:
        if kind not in REWARD_KINDS:
            raise ValueError(f"a reward's kind is one of {', '.join(REWARD_KINDS)}, got {kind!r}")
        record["kind"] = kind
    return record
