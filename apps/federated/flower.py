"""External federations run by Flower: their declaration, the checks on each submitted round, and the
re-derivation of a round's aggregate with Flower's own arithmetic.

A Flower experiment declares its model's layers (name, shape, dtype, in the order of the ServerApp's ArrayRecord)
and the strategy that aggregates (class, module, Flower version, settings). Parameters travel as FedChain blobs
(blobs.py: float64, which holds float32 and float16 values exactly); each is checked against the declared layers
and for finite values before anything is stored.

Re-derivation rules, chosen once at declaration from the strategy (`rule_for`):

- "flower-fedavg" (Flower 1.42's message-API FedAvg, `aggregate_arrayrecords`): in the order the replies reached
  the strategy, with weights w_i (the `weighted_by_key` metric, recorded as the update's sample count) and
  f_i = w_i / sum(w) (Python's float division, sum in reply order), per layer in its declared dtype:
  acc = x_0 * f_0, then acc += x_i * f_i. This differs from FedChain's own FedAvg (aggregation.py), which sums
  (w_i / N) * x_i in float64 from a zero vector in client order; the last bits differ, so each side's model is
  re-derived with its own arithmetic.
- "flower-fedmedian" (FedMedian): per layer, numpy's median over the stacked replies, in the declared dtype.
- "flower-multikrum" (Krum, MultiKrum; settings num_malicious_nodes f and num_nodes_to_select k): squared
  distances ||x||^2 + ||y||^2 - 2 x.y over the flattened replies; each reply's score is the sum of its n-f-2
  nearest (after itself, by argsort); the k lowest scores (argsort order) are aggregated as FedAvg does, in that
  order. The replies left out are recorded as rejected.
- anything else (a Flower strategy we do not re-derive, a subclass that overrides aggregate_train, another
  Flower version): "recorded, not re-derivable": the round's records and blobs are kept and their hashes checked,
  but the aggregate is not recomputed.
"""

import json
import math
import re
import struct

import numpy as np

from .blobs import BlobFormatError, MAX_ARRAYS, MAX_DIMS, MAX_ELEMENTS, params_parse, params_serialize
from .definitions import NAME_LENGTH

FLOWER_VERSIONS = ("1.42.0",)
FEDAVG, FEDMEDIAN, MULTIKRUM = "flower-fedavg", "flower-fedmedian", "flower-multikrum"
NOT_REDERIVABLE = "recorded, not re-derivable"
INITIAL_MODEL = "the ServerApp's initial model"  # round 0: what the ServerApp started from, attested by its blob
RULES = (FEDAVG, FEDMEDIAN, MULTIKRUM, NOT_REDERIVABLE)
_REDERIVABLE = {
    ("flwr.serverapp.strategy.fedavg", "FedAvg"): FEDAVG,
    ("flwr.serverapp.strategy.fedmedian", "FedMedian"): FEDMEDIAN,
    ("flwr.serverapp.strategy.krum", "Krum"): MULTIKRUM,
    ("flwr.serverapp.strategy.multikrum", "MultiKrum"): MULTIKRUM,
}
DTYPES = ("float64", "float32", "float16")
MAX_UPDATES_PER_ROUND = 1000
MAX_ROUNDS = 10_000
MAX_NAME = 100
_KEY = re.compile(r"[0-9a-f]{32}")


class FlowerError(ValueError):
    """A declaration or a round submission that FedChain refuses; the message says why."""


def declaration_validate(values):
    """The clean declaration {name, key, layers, strategy, rule} of an external experiment, or FlowerError."""
    if not isinstance(values, dict):
        raise FlowerError("the declaration is a JSON object with name, key, layers and strategy")
    unknown = sorted(set(values) - {"name", "key", "rounds", "layers", "strategy"})
    if unknown:
        raise FlowerError(f"unknown fields {', '.join(unknown)}; a declaration has name, key, rounds, layers and strategy")
    name = values.get("name", "")
    if not isinstance(name, str) or len(name) > NAME_LENGTH:
        raise FlowerError(f"name must be a text of at most {NAME_LENGTH} characters")
    key = values.get("key", "")
    if not isinstance(key, str) or (key and not _KEY.fullmatch(key)):
        raise FlowerError("key must be 32 lowercase hex digits (it makes a retried declaration return the same experiment)")
    rounds = values.get("rounds", 0)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 0 <= rounds <= MAX_ROUNDS:
        raise FlowerError(f"rounds must be a whole number from 0 (not known) to {MAX_ROUNDS}")
    layers = _layers(values.get("layers"))
    strategy = _strategy(values.get("strategy"))
    return {"name": name, "key": key, "rounds": rounds, "layers": layers, "strategy": strategy,
            "rule": rule_for(strategy)}


def _layers(layers):
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_ARRAYS:
        raise FlowerError(f"layers must be a list of 1 to {MAX_ARRAYS} layers")
    clean, names, elements = [], set(), 0
    for position, layer in enumerate(layers):
        where = f"layer {position}"
        if not isinstance(layer, dict) or set(layer) != {"name", "shape", "dtype"}:
            raise FlowerError(f"{where} must be an object with name, shape and dtype")
        name, shape, dtype = layer["name"], layer["shape"], layer["dtype"]
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME or name in names:
            raise FlowerError(f"{where}: name must be a distinct text of 1 to {MAX_NAME} characters")
        names.add(name)
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_DIMS
            or any(isinstance(d, bool) or not isinstance(d, int) or not 0 <= d < 2**32 for d in shape)
        ):
            raise FlowerError(f"{where} ({name}): shape must be a list of at most {MAX_DIMS} whole numbers")
        if dtype not in DTYPES:
            raise FlowerError(f"{where} ({name}): dtype must be one of {', '.join(DTYPES)}")
        elements += math.prod(shape)
        clean.append({"name": name, "shape": list(shape), "dtype": dtype})
    if elements > MAX_ELEMENTS:
        raise FlowerError(f"the model has {elements} parameters; FedChain records at most {MAX_ELEMENTS}")
    return clean


def _strategy(strategy):
    if not isinstance(strategy, dict) or not {"name", "module", "flower", "settings"} <= set(strategy):
        raise FlowerError("strategy must be an object with name, module, flower (the version) and settings")
    for field in ("name", "module", "flower"):
        if not isinstance(strategy[field], str) or not 1 <= len(strategy[field]) <= 200:
            raise FlowerError(f"strategy.{field} must be a text of 1 to 200 characters")
    settings = strategy["settings"]
    if not isinstance(settings, dict) or len(settings) > 100:
        raise FlowerError("strategy.settings must be an object of at most 100 settings")
    for key, value in settings.items():
        if not isinstance(key, str) or len(key) > MAX_NAME:
            raise FlowerError("strategy.settings keys are texts of at most 100 characters")
        if isinstance(value, float) and not math.isfinite(value):
            raise FlowerError(f"strategy.settings.{key} is not a finite number")
        if value is not None and not isinstance(value, (bool, int, float, str)):
            raise FlowerError(f"strategy.settings.{key} must be a number, text, true, false or null")
        if isinstance(value, str) and len(value) > 1000:
            raise FlowerError(f"strategy.settings.{key} is longer than 1000 characters")
    return {field: strategy[field] for field in ("name", "module", "flower", "settings")}


def flower_chain_declaration(recorded):
    """The layers, strategy and rule of an external experiment from its experiment record on the chain (another
    node's experiment): checked as a declaration is, and the rule recomputed rather than taken from the record."""
    if not isinstance(recorded, dict):
        raise FlowerError("the experiment record's config is not an object")
    strategy = _strategy(recorded.get("strategy"))
    return {"layers": _layers(recorded.get("layers")), "strategy": strategy, "rule": rule_for(strategy)}


def rule_for(strategy):
    """The re-derivation rule of a declared strategy (see the module's docstring)."""
    if strategy["flower"] not in FLOWER_VERSIONS:
        return NOT_REDERIVABLE
    return _REDERIVABLE.get((strategy["module"], strategy["name"]), NOT_REDERIVABLE)


def declared_shapes(layers):
    return [tuple(layer["shape"]) for layer in layers]


def blob_check(layers, data, what):
    """The flat float64 parameters of a submitted blob, checked against the declared layers; FlowerError if the
    blob is malformed, has other shapes, holds NaN or infinities, or values its layer's dtype cannot hold."""
    try:
        shapes, flat = params_parse(data)
    except BlobFormatError as error:
        raise FlowerError(f"{what} is not a FedChain parameter blob: {error}") from None
    expected = declared_shapes(layers)
    if [tuple(shape) for shape in shapes] != expected:
        raise FlowerError(f"{what} has layers of shapes {[list(s) for s in shapes]}; the experiment declares "
                          f"{[list(s) for s in expected]}")
    if not np.isfinite(flat).all():
        raise FlowerError(f"{what} holds non-finite values (NaN or infinity)")
    for layer, array in zip(layers, split(layers, flat)):
        if layer["dtype"] != "float64" and not np.array_equal(array.astype(layer["dtype"]).astype(np.float64), array):
            raise FlowerError(f"{what}: layer {layer['name']} holds values that are not {layer['dtype']}")
    return flat


def split(layers, flat):
    """The flat vector as one float64 array per declared layer."""
    arrays, offset = [], 0
    for layer in layers:
        size = math.prod(layer["shape"])
        arrays.append(flat[offset : offset + size].reshape(layer["shape"]))
        offset += size
    return arrays


def _typed(layers, updates):
    return [[array.astype(layer["dtype"]) for layer, array in zip(layers, split(layers, flat))] for flat in updates]


def selected(rule, settings, layers, updates):
    """Positions of the updates the rule aggregates, in the order it sums them (every update, in order, except
    for Krum's selection); None for a strategy that is not re-derivable."""
    if rule == NOT_REDERIVABLE:
        return None
    if rule != MULTIKRUM or not updates:
        return list(range(len(updates)))
    per_update = _typed(layers, updates)
    flat = np.stack([np.concatenate(arrays, axis=None).ravel() for arrays in per_update], axis=0)
    norms = np.square(flat).sum(axis=1)
    distances = norms[:, None] + norms[None, :] - 2 * flat @ flat.T
    closest = max(1, len(updates) - int(settings.get("num_malicious_nodes", 0)) - 2)
    scores = [np.sum(distances[i, np.argsort(row)[1 : closest + 1].tolist()]) for i, row in enumerate(distances)]
    return [int(i) for i in np.argsort(scores)[: int(settings.get("num_nodes_to_select", 1))]]


def weights_of(settings, updates):
    """The weights the strategy used: each update's `weighted_by_key` metric as the client reported it (a number
    that need not be whole), else its recorded sample count."""
    key = settings.get("weighted_by_key", "num-examples")
    weights = []
    for update in updates:
        weight = update.metrics.get(key) if isinstance(update.metrics, dict) else None
        usable = isinstance(weight, (int, float)) and not isinstance(weight, bool)
        weights.append(weight if usable else update.samples)
    return weights


def rederive(rule, layers, updates, weights, settings=None):
    """The aggregate (blob bytes) that the rule computes from the updates (flat float64 vectors in the order the
    strategy received them) and their weights; None for a strategy that is not re-derivable."""
    if rule == NOT_REDERIVABLE or not updates:
        return None
    if rule == MULTIKRUM:
        chosen = selected(rule, settings or {}, layers, updates)
        updates, weights, rule = [updates[i] for i in chosen], [weights[i] for i in chosen], FEDAVG
    per_update = _typed(layers, updates)
    if rule == FEDAVG:
        aggregated = _flower_fedavg(per_update, weights)
    elif rule == FEDMEDIAN:
        aggregated = [np.asarray(np.median(np.stack(layer_values), axis=0)) for layer_values in zip(*per_update)]
    else:
        raise ValueError(f"unknown rule {rule!r}")
    flat = np.concatenate([np.asarray(array, dtype=np.float64).ravel() for array in aggregated])
    return params_serialize(declared_shapes(layers), flat)


def _flower_fedavg(per_update, weights):
    """flwr.serverapp.strategy.strategy_utils.aggregate_arrayrecords, step for step."""
    total = sum(weights)
    factors = [weight / total for weight in weights]
    aggregated = None
    for arrays, factor in zip(per_update, factors):
        if aggregated is None:
            aggregated = [array * factor for array in arrays]
        else:
            for position, array in enumerate(arrays):
                aggregated[position] += array * factor
    return aggregated


_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_METRICS = 100
MAX_METRIC_LIST = 1000


def _metrics(value, where):
    if not isinstance(value, dict) or len(value) > MAX_METRICS:
        raise FlowerError(f"{where} must be an object of at most {MAX_METRICS} metrics")
    clean = {}
    for key, item in value.items():
        if not isinstance(key, str) or not 1 <= len(key) <= MAX_NAME:
            raise FlowerError(f"{where}: metric names are texts of 1 to {MAX_NAME} characters")
        items = item if isinstance(item, list) else [item]
        if len(items) > MAX_METRIC_LIST:
            raise FlowerError(f"{where}.{key} has more than {MAX_METRIC_LIST} values")
        for number in items:
            if number is None:
                continue  # a non-finite value, which JSON cannot hold, travels as null
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise FlowerError(f"{where}.{key} must be a number or a list of numbers")
            if isinstance(number, int) and abs(number) > 2**53 - 1:
                raise FlowerError(f"{where}.{key} is beyond the integers JSON holds exactly")
            if isinstance(number, float) and not math.isfinite(number):
                raise FlowerError(f"{where}.{key} is not finite")
        clean[key] = item
    return clean


def _finite(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FlowerError(f"{where} must be a finite number: evaluate each round's global model (an evaluate_fn in "
                          "the ServerApp, or the clients' evaluation) so that FedChain can record its loss and accuracy")
    return float(value)


def _digest(value, where):
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise FlowerError(f"{where} must be a SHA-256 digest in lowercase hex")
    return value


def submission_validate(values):
    """The clean round submission {round, global_model, loss, accuracy, updates, dropped, metrics}, or
    FlowerError. Updates keep their order: the order the strategy received them in."""
    if not isinstance(values, dict):
        raise FlowerError("the round is a JSON object")
    known = {"round", "global_model", "loss", "accuracy", "updates", "dropped", "metrics"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise FlowerError(f"unknown fields {', '.join(unknown)}; a round has {', '.join(sorted(known))}")
    number = values.get("round")
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= MAX_ROUNDS:
        raise FlowerError(f"round must be a whole number from 0 to {MAX_ROUNDS}")
    updates = values.get("updates", [])
    if not isinstance(updates, list) or len(updates) > MAX_UPDATES_PER_ROUND:
        raise FlowerError(f"updates must be a list of at most {MAX_UPDATES_PER_ROUND} client updates")
    if number == 0 and updates:
        raise FlowerError("round 0 is the initial model: it has no client updates")
    if number > 0 and not updates:
        raise FlowerError(f"round {number} has no client updates to record")
    clean_updates, nodes = [], set()
    for position, update in enumerate(updates):
        where = f"updates[{position}]"
        if not isinstance(update, dict) or set(update) != {"node", "samples", "update", "metrics"}:
            raise FlowerError(f"{where} must be an object with node, samples, update and metrics")
        node = update["node"]
        if not isinstance(node, str) or not 1 <= len(node) <= 40 or node in nodes:
            raise FlowerError(f"{where}.node must be a distinct text of 1 to 40 characters (the Flower node id)")
        nodes.add(node)
        samples = update["samples"]
        if isinstance(samples, bool) or not isinstance(samples, int) or not 0 <= samples <= 2**31:
            raise FlowerError(f"{where}.samples must be a whole number of examples")
        clean_updates.append(
            {"node": node, "samples": samples, "update": _digest(update["update"], f"{where}.update"),
             "metrics": _metrics(update["metrics"], f"{where}.metrics")}
        )
    dropped = values.get("dropped", 0)
    if isinstance(dropped, bool) or not isinstance(dropped, int) or not 0 <= dropped <= MAX_UPDATES_PER_ROUND:
        raise FlowerError("dropped must be a whole number (the replies that came back with an error)")
    metrics = values.get("metrics", {})
    if not isinstance(metrics, dict) or set(metrics) - {"train", "evaluate", "server"}:
        raise FlowerError("metrics must be an object with train, evaluate and server metrics")
    return {
        "round": number,
        "global_model": _digest(values.get("global_model"), "global_model"),
        "loss": _finite(values.get("loss"), "loss"),
        "accuracy": _finite(values.get("accuracy"), "accuracy"),
        "updates": clean_updates,
        "dropped": dropped,
        "metrics": {part: _metrics(metrics.get(part, {}), f"metrics.{part}") for part in ("train", "evaluate", "server")},
    }


# A round's upload: one body that no web server or framework parses on its way in (multipart bodies are parsed,
# in memory, by some servers before the application can refuse them):
#     b"FCRD" | u32 little-endian length of the JSON | the JSON (UTF-8): {"round": {...}, "blobs": [[sha256, size],
#     ...]} | each blob's bytes, in the order of "blobs"
UPLOAD_CONTENT_TYPE = "application/vnd.fedchain.flower-round"
UPLOAD_MAGIC = b"FCRD"
MAX_UPLOAD_JSON = 4 * 1024 * 1024


def upload_encode(submission, blobs):
    """The body of a round's upload: the submission (a JSON-ready dict) and its blobs ({sha256: bytes})."""
    names = list(blobs)
    header = json.dumps({"round": submission, "blobs": [[name, len(blobs[name])] for name in names]}).encode()
    return b"".join([UPLOAD_MAGIC, struct.pack("<I", len(header)), header, *(blobs[name] for name in names)])


def upload_decode(read, length):
    """(submission, {claimed sha256: bytes}) from an upload of `length` bytes read with read(n); FlowerError when
    the framing is wrong. Reads no more than the announced sizes, which must add up to `length`."""
    def exactly(count, what):
        data = read(count)
        if len(data) != count:
            raise FlowerError(f"the upload ends inside {what}")
        return data

    if length < 8:
        raise FlowerError(f"an upload starts with {UPLOAD_MAGIC!r} and the length of its JSON")
    head = exactly(8, "its header")
    if head[:4] != UPLOAD_MAGIC:
        raise FlowerError(f"not a round upload: it must start with {UPLOAD_MAGIC!r}")
    (json_length,) = struct.unpack("<I", head[4:])
    if json_length > min(MAX_UPLOAD_JSON, length - 8):
        raise FlowerError(f"the upload announces {json_length} bytes of JSON; it has at most "
                          f"{min(MAX_UPLOAD_JSON, length - 8)}")
    try:
        header = json.loads(exactly(json_length, "its JSON").decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise FlowerError(f"the upload's JSON is not JSON: {error}") from None
    if not isinstance(header, dict) or set(header) != {"round", "blobs"} or not isinstance(header["blobs"], list):
        raise FlowerError('the upload\'s JSON is {"round": {...}, "blobs": [[sha256, size], ...]}')
    listed = header["blobs"]
    if len(listed) > MAX_UPDATES_PER_ROUND + 1:
        raise FlowerError(f"an upload holds at most {MAX_UPDATES_PER_ROUND + 1} blobs")
    for entry in listed:
        if (not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str)
                or isinstance(entry[1], bool) or not isinstance(entry[1], int) or entry[1] < 0):
            raise FlowerError("each blob is listed as [sha256, size in bytes]")
    if 8 + json_length + sum(size for _, size in listed) != length:
        raise FlowerError("the blob sizes listed do not add up to the upload's length")
    blobs = {}
    for name, size in listed:
        if name in blobs:
            raise FlowerError(f"the blob {name} is listed twice")
        blobs[name] = exactly(size, f"the blob {name}")
    return header["round"], blobs
