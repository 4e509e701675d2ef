"""Re-deriving a recorded round from what the chain commits to and the blobs those commitments name.

Nothing recorded is trusted: every blob is re-hashed, the round's global model is recomputed from the update
blobs with the experiment's aggregator, re-evaluated, and compared with the chain's records.
"""

from dataclasses import dataclass, field

from . import flower
from .blobs import BlobFormatError, content_address


@dataclass(frozen=True)
class ChainUpdate:
    client: int
    samples: int
    update: str  # SHA-256 hex of the update blob
    accepted: bool
    metrics: dict = field(default_factory=dict)  # what the client reported (its record's metrics)


@dataclass(frozen=True)
class ChainRound:
    """A round as its block records it."""

    number: int
    parent_model: str | None  # the coinbase's commitment to the previous round's global model
    model: str
    loss: float
    accuracy: float
    updates: list[ChainUpdate] = field(default_factory=list)
    privacy: dict | None = None  # the global model record's {"epsilon", "delta"} under DP


def round_rederive(federation, chain_round, *, previous_blob, update_blobs, model_blob):
    """Problems found re-deriving the round (an empty list when it checks out).

    previous_blob: the bytes stored under chain_round.parent_model (None if missing); update_blobs: {hash: bytes
    or None}; model_blob: the bytes stored under chain_round.model, the round's own global model, which must be
    there for anyone to fetch (for the last round, no later round's audit would notice it gone). Round 0 is
    re-derived from the seed alone.
    """
    problems = []
    number = chain_round.number
    if number == 0:
        params = federation.initial_params()
    else:
        previous = _parse(federation, chain_round.parent_model, previous_blob, "the previous global model", problems)
        if previous is None:
            return problems
        sampled = {int(index) for index in federation.round_clients(number)}
        updates = sorted(chain_round.updates, key=lambda update: update.client)
        vectors = []
        for update in updates:
            if update.client not in sampled:
                problems.append(f"client {update.client} sent an update but was not sampled in round {number}")
                continue
            shard = len(federation.shards[update.client])
            if update.samples != shard:
                problems.append(f"client {update.client} claims {update.samples} samples; its shard has {shard}")
            data = update_blobs.get(update.update)
            if data is None:
                problems.append(f"the update of client {update.client} ({update.update}) is missing or damaged")
            elif content_address(data) != update.update:
                problems.append(f"the update of client {update.client} does not hash to {update.update}")
            try:
                vectors.append(federation.parse_update(data) if data is not None else None)
            except BlobFormatError:
                vectors.append(None)  # the aggregator rejects it, as it did when the round ran
        if problems:
            return problems
        aggregation = federation.aggregate(previous, vectors, [update.samples for update in updates], number)
        accepted = {updates[position].client for position in aggregation.accepted}
        recorded = {update.client for update in updates if update.accepted}
        if accepted != recorded:
            problems.append(
                f"the aggregator accepts clients {sorted(accepted)}; the chain records {sorted(recorded)} as accepted"
            )
        params = aggregation.params
    config = federation.config
    privacy = {"epsilon": federation.epsilon(number), "delta": config.dp_delta} if config.dp else None
    if privacy != chain_round.privacy:
        problems.append(f"the accountant gives privacy {privacy} after round {number}; the chain records "
                        f"{chain_round.privacy}")
    model = content_address(federation.serialize(params))
    if model != chain_round.model:
        problems.append(f"the re-derived global model hashes to {model}; the chain records {chain_round.model}")
        return problems
    if model_blob is None:
        problems.append(f"the round's global model ({model}) is missing from the blob store or damaged")
    elif content_address(model_blob) != model:
        problems.append(f"the round's stored global model does not hash to {model}")
    loss, accuracy = federation.evaluate(params)
    if (loss, accuracy) != (chain_round.loss, chain_round.accuracy):
        problems.append(
            f"the global model's test loss and accuracy are {loss!r} and {accuracy!r}; "
            f"the chain records {chain_round.loss!r} and {chain_round.accuracy!r}"
        )
    return problems


def _blob_parsed(digest, data, what, problems, parse, refusal):
    """`parse(data)` of a blob that is there and hashes to `digest`, else None with the problem added;
    `refusal(error)` says what a blob that `parse` refuses (ValueError) is."""
    if data is None:
        problems.append(f"{what} ({digest}) is missing from the blob store or damaged")
        return None
    if content_address(data) != digest:
        problems.append(f"{what} does not hash to {digest}")
        return None
    try:
        return parse(data)
    except ValueError as error:
        problems.append(refusal(error))
        return None


def _parse(federation, digest, data, what, problems):
    return _blob_parsed(digest, data, what, problems, federation.parse,
                        lambda error: f"{what} ({digest}) is not a model of this experiment: {error}")


def flower_round_rederive(external, chain_round, *, model_blob, update_blobs):
    """Problems found re-deriving a round of an external (Flower) federation; empty when it checks out.

    Every blob is re-hashed and checked against the declared layers. Round 0 is the ServerApp's initial model,
    which only its blob attests. Other rounds are re-derived with the experiment's rule (flower.py) from the
    updates in the order the chain records them, which is the order the strategy summed them; a strategy whose
    rule is "recorded, not re-derivable" has its hashes checked and nothing recomputed.
    """
    problems = []
    layers = external["layers"]

    def checked(digest, data, what):
        return _blob_parsed(digest, data, what, problems, lambda blob: flower.blob_check(layers, blob, what), str)

    checked(chain_round.model, model_blob, "the global model")
    vectors = [checked(u.update, update_blobs.get(u.update), f"the update of client {u.client}")
               for u in chain_round.updates]
    if problems or chain_round.number == 0 or external["rule"] == flower.NOT_REDERIVABLE:
        return problems
    settings = external["strategy"]["settings"]
    chosen = flower.selected(external["rule"], settings, layers, vectors)
    recorded = [position for position, update in enumerate(chain_round.updates) if update.accepted]
    if sorted(chosen) != recorded:
        return [f"{external['rule']} aggregates the updates of clients "
                f"{sorted(chain_round.updates[i].client for i in chosen)}; the chain records "
                f"{sorted(chain_round.updates[i].client for i in recorded)} as accepted"]
    rederived = flower.rederive(external["rule"], layers, vectors, flower.weights_of(settings, chain_round.updates),
                                settings)
    model = content_address(rederived)
    if model != chain_round.model:
        problems.append(f"{external['rule']} re-derives a global model hashing to {model}; the chain records "
                        f"{chain_round.model}")
    return problems
