"""Writes of the federated app: experiments, rounds and their ledger records.

The learning itself is `engine.Federation` (pure numpy); these functions load what it needs from the database
and blob store and write what it produces. A round splits into three steps so that clients can train in other
processes: `clients_train` (some of the round's clients, each update a pure function of the previous round's
recorded global model, the client's shard and the seed), `round_aggregate` (screen, aggregate, evaluate) and
`round_record` (ONE transaction: Round, ClientUpdates, blobs, the ledger batch and an outbox event). `experiment_run_round` chains
the three in this process; `experiment_run` runs an experiment to its end in the foreground, mining each round.
"""

import math
from datetime import timedelta
import time
from dataclasses import dataclass, replace

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from apps.core.db import rows_insert
from apps.core.process import process_name
from apps.events.services import event_emit
from apps.ledger import records as ledger_records
from apps.ledger.models import Block, PendingBatch, Record
from apps.ledger.store import batch_submit, block_mine

from .aggregation import AggregationError
from .attacks import detection_rates
from .blobs import BlobFormatError
from .config import ConfigError, experiment_config_validate
from .engine import federation_for
from .models import Client, ClientUpdate, Experiment, Round, RoundAudit
from .selectors import (
    AuditReport,
    experiment_budget_refusals,
    experiment_payload,
    round_audit,
    round_batch,
    round_payload,
)
from .storage import blob_read, blob_write, blobs_read, blobs_write


class RoundError(Exception):
    """A round cannot be trained, aggregated or recorded; the message says why."""


@dataclass(frozen=True)
class TrainedUpdate:
    """A client's locally trained model, as it arrives at the server."""

    client_index: int
    samples: int
    update: bytes  # a parameter blob (blobs.py)
    train_loss: float | None  # None when training diverged
    train_seconds: float = 0.0
    worker: str = ""
    accepted: bool = False  # set by round_aggregate
    reason: str = ""
    metrics: dict | None = None  # what the client reported, when it is more than train_loss (external federations)
    update_hash: str = ""  # set when the update's blob is stored already (client_updates_load): not written again


@dataclass(frozen=True)
class AggregatedRound:
    """What round_record writes: the round's updates judged, the new global model and its metrics."""

    number: int
    updates: list[TrainedUpdate]
    global_params: bytes
    metrics: dict
    baseline_params: bytes | None = None


# An experiment's id names it on a chain shared by many nodes: the top 32 bits are the first 32 bits of this
# node's public key, the low 21 this node's count of experiments. It stays within JSON's exact integers (2**53),
# and is unambiguous across nodes unless two nodes' keys share 32 bits (about one chance in 4e9 a pair): then
# ids already named on the chain are skipped, and the chain's rules refuse a second round 0 of one id anyway.
# Records remain what the training determines on a node: the same node, settings and seed give the same ids.
EXPERIMENT_NUMBER_BITS = 21


def experiment_id_next() -> int:
    from apps.core.keys import node_id

    low = int(node_id()[:8], 16) << EXPERIMENT_NUMBER_BITS
    high = low + (1 << EXPERIMENT_NUMBER_BITS)
    last = Experiment.objects.filter(pk__gt=low, pk__lt=high).aggregate(last=Max("pk"))["last"]
    candidate = (last or low) + 1
    while candidate < high and (
        Block.objects.filter(experiment_id=candidate).exists()
        or PendingBatch.objects.filter(experiment_id=candidate).exists()
    ):
        candidate += 1
    if candidate >= high:
        raise ValidationError(f"this node has used all {high - low - 1} experiment ids")
    return candidate


def experiment_create(*, name="", owner=None, **settings):
    """A validated experiment with its clients (shard sizes and label counts), announced by an event.

    Raises ValidationError with a message per bad setting, or per work-budget limit it would exceed (the
    experiment's own, the owner's when there is one, the installation's: budget.py); nothing is created then.
    """
    try:
        config = experiment_config_validate(settings)
    except ConfigError as error:
        raise ValidationError(error.errors) from None
    with transaction.atomic():
        # In the transaction: on SQLite (IMMEDIATE) two creations cannot both fit in what is left.
        refusals = experiment_budget_refusals(config, owner=owner)
        if refusals:
            raise ValidationError(refusals)
        federation = federation_for(config)
        experiment = Experiment.objects.create(pk=experiment_id_next(), name=name, owner=owner, **config.as_dict())
        Client.objects.bulk_create(
            Client(
                experiment=experiment,
                index=index,
                shard_size=len(shard),
                label_counts=counts.tolist(),
                malicious=index in federation.malicious,
            )
            for index, (shard, counts) in enumerate(zip(federation.shards, federation.label_counts))
        )
        event_emit(type="experiment", payload=experiment_payload(experiment), experiment_id=experiment.id)
    return experiment


def experiment_status_set(*, experiment, status, error=""):
    """Moves the experiment to `status` (recording start and end times) and announces it."""
    now = timezone.now()
    changes = {"status": status, "error": error}
    if status == Experiment.Status.RUNNING and experiment.started_at is None:
        changes["started_at"] = now
    if status in (Experiment.Status.FINISHED, Experiment.Status.FAILED, Experiment.Status.CANCELLED):
        changes["finished_at"] = now
    with transaction.atomic():
        Experiment.objects.filter(pk=experiment.pk).update(**changes)
        experiment.refresh_from_db()
        event_emit(type="experiment", payload=experiment_payload(experiment), experiment_id=experiment.id)
    return experiment


def round_global_params(*, experiment, number):
    """Flat parameters of the recorded global model of a round, read from its blob."""
    federation = federation_for(experiment.config())
    model_hash = Round.objects.filter(experiment=experiment, number=number).values_list(
        "global_model_hash", flat=True
    ).first()
    if model_hash is None:
        raise RoundError(f"experiment {experiment.id} has no recorded round {number}")
    return _parse_blob(federation, model_hash, f"the global model of round {number}")


def clients_train(*, experiment, round_number, client_indices, worker=None, should_stop=None):
    """Local training of some clients in round `round_number` (>= 1), each from round `round_number - 1`'s
    recorded global model (read once for all of them). Deterministic: any process, any grouping of clients, the
    same bytes. Raises TrainingStopped once should_stop() is true (asked between minibatches)."""
    federation = federation_for(experiment.config())
    previous = round_global_params(experiment=experiment, number=round_number - 1)
    worker = process_name() if worker is None else worker
    return [_client_train(federation, previous, round_number, index, worker, should_stop) for index in client_indices]


def _client_train(federation, previous, round_number, client_index, worker, should_stop=None):
    if not 0 <= client_index < federation.config.clients:
        raise RoundError(f"there is no client {client_index}")
    started = time.perf_counter()
    params, train_loss = federation.client_train(previous, round_number, client_index, should_stop)
    seconds = time.perf_counter() - started
    return TrainedUpdate(
        client_index=client_index,
        samples=len(federation.shards[client_index]),
        update=federation.serialize(params),
        train_loss=train_loss if math.isfinite(train_loss) else None,
        train_seconds=seconds,
        worker=worker,
    )


def client_updates_store(updates):
    """Stores the updates' blobs (one statement) and returns a JSON-ready description of each (for a job's
    result). Call it inside the transaction that records the descriptions."""
    names = blobs_write([update.update for update in updates])
    return [
        {
            "client_index": update.client_index,
            "samples": update.samples,
            "update": name,
            "train_loss": update.train_loss,
            "train_seconds": update.train_seconds,
            "worker": update.worker,
        }
        for update, name in zip(updates, names)
    ]


def client_updates_load(descriptions):
    """The TrainedUpdates that `client_updates_store` descriptions name, their blobs read back from the store."""
    blobs = blobs_read(description["update"] for description in descriptions)
    updates = []
    for description in descriptions:
        data = blobs[description["update"]]
        if data is None:
            raise RoundError(f"the update blob {description['update']} is missing from the blob store or damaged")
        updates.append(TrainedUpdate(**{**description, "update": data, "update_hash": description["update"]}))
    return updates


def round_aggregate(*, experiment, round_number, updates, previous=None, should_stop=None):
    """Screens and aggregates the updates of round `round_number` and evaluates the new global model.

    Unreadable, malformed or non-finite updates are recorded as rejected with the reason. `previous` (the flat
    parameters of the previous global model) saves reading its blob again. The centralized baseline's
    training raises TrainingStopped once should_stop() is true.
    """
    federation = federation_for(experiment.config())
    if previous is None:
        previous = round_global_params(experiment=experiment, number=round_number - 1)
    updates = sorted(updates, key=lambda update: update.client_index)
    indices = [update.client_index for update in updates]
    if len(set(indices)) != len(indices):
        raise RoundError(f"round {round_number} has two updates from the same client")
    sampled = {int(index) for index in federation.round_clients(round_number)}
    for update in updates:
        if update.client_index not in sampled:
            raise RoundError(f"client {update.client_index} was not sampled in round {round_number}")
        if update.samples != len(federation.shards[update.client_index]):
            raise RoundError(
                f"client {update.client_index} claims {update.samples} samples; "
                f"its shard has {len(federation.shards[update.client_index])}"
            )

    started = time.perf_counter()
    vectors, unreadable = [], {}
    for position, update in enumerate(updates):
        try:
            vectors.append(federation.parse_update(update.update))
        except BlobFormatError as error:
            vectors.append(None)
            unreadable[position] = f"unreadable update: {error}"
    try:
        vectors, crafted, aggregation = federation.server_round(previous, round_number, indices, vectors)
    except AggregationError as error:
        raise RoundError(f"round {round_number}: {error}") from None
    for position in crafted:
        # The colluders send the crafted update instead: its blob is new (not the one stored after training).
        updates[position] = replace(updates[position], update=federation.serialize(vectors[position]), update_hash="")
    aggregate_seconds = time.perf_counter() - started
    reasons = {**aggregation.rejected, **unreadable}
    judged = [
        replace(update, accepted=position in aggregation.accepted, reason=reasons.get(position, ""))
        for position, update in enumerate(updates)
    ]

    started = time.perf_counter()
    test_loss, test_accuracy = federation.evaluate(aggregation.params)
    if not math.isfinite(test_loss):
        raise RoundError(
            f"round {round_number}: the global model diverged (its test loss is {test_loss}); "
            "try a lower learning rate"
        )
    metrics = {"test_loss": test_loss, "test_accuracy": test_accuracy, "aggregate_seconds": aggregate_seconds}
    if experiment.dp:
        metrics["epsilon"] = federation.epsilon(round_number)
    baseline_params = None
    if experiment.baseline:
        baseline = federation.baseline_train(
            _baseline_params(experiment, federation, round_number - 1), round_number, should_stop
        )
        metrics["baseline_loss"], metrics["baseline_accuracy"] = federation.evaluate(baseline)
        baseline_params = federation.serialize(baseline)
    metrics["evaluate_seconds"] = time.perf_counter() - started
    metrics["train_seconds"] = sum(update.train_seconds for update in updates)
    return AggregatedRound(round_number, judged, federation.serialize(aggregation.params), metrics, baseline_params)


def _baseline_params(experiment, federation, number):
    model_hash = Round.objects.filter(experiment=experiment, number=number).values_list(
        "baseline_model_hash", flat=True
    ).first()
    if not model_hash:
        raise RoundError(f"round {number} of experiment {experiment.id} has no centralized baseline model")
    return _parse_blob(federation, model_hash, f"the baseline model of round {number}")


def _parse_blob(federation, model_hash, what):
    data = blob_read(model_hash)
    if data is None:
        raise RoundError(f"{what} ({model_hash}) is missing from the blob store or damaged")
    try:
        return federation.parse(data)
    except ValueError as error:
        raise RoundError(f"{what} ({model_hash}) is not a model of this experiment: {error}") from None


def round_initial(*, experiment):
    """Round 0: the seeded initial model, evaluated (the baseline starts from it too)."""
    federation = federation_for(experiment.config())
    params = federation.initial_params()
    test_loss, test_accuracy = federation.evaluate(params)
    metrics = {"test_loss": test_loss, "test_accuracy": test_accuracy}
    if experiment.dp:
        metrics["epsilon"] = 0.0
    blob = federation.serialize(params)
    if experiment.baseline:
        metrics["baseline_loss"], metrics["baseline_accuracy"] = test_loss, test_accuracy
    return AggregatedRound(0, [], blob, metrics, blob if experiment.baseline else None)


_CLIENT_UPDATE_FIELDS = [
    "round", "client", "samples", "update_hash", "train_loss", "accepted", "reason", "worker", "train_seconds"
]


def round_record(*, experiment, number, updates, global_params, metrics, baseline_params=None, external=None):
    """Records a round in ONE transaction: the Round and its ClientUpdates, their blobs, the round's ledger batch
    (experiment record in round 0, one record per update, the global model record) and a `round` event.

    `external` describes a round that an external federation ran (external.py): {"sampled": how many clients
    were asked, "config": the experiment record's config, "aggregator": the global model record's aggregator};
    its updates are recorded in the order given, which is the order its aggregator summed them.

    Round `number - 1` must be recorded already; recording the same round twice raises RoundError and writes
    nothing. Sampled clients without an update are recorded as dropped.
    """
    # An external federation's experiment (external is not None) has no attack, DP or rewards of ours.
    config = experiment.config() if external is None else None
    if number > 0 and not updates and not (config and config.dp):  # a DP round's Poisson sample may be empty
        raise RoundError(f"round {number} has no client updates to record")
    if external is None:
        federation = federation_for(config)
        sampled = {int(index) for index in federation.round_clients(number)} if number else set()
        for update in updates:
            if update.client_index not in sampled:
                raise RoundError(f"client {update.client_index} was not sampled in round {number}")
        clients_sampled, experiment_config = len(sampled), config.as_dict()
        aggregator = config.aggregator if number else "initial"
        malicious = federation.malicious
    else:
        clients_sampled, experiment_config = external["sampled"], external["config"]
        aggregator = external["aggregator"] if number else "initial"
        malicious = frozenset()
    detection = detection_rates([u.client_index in malicious for u in updates], [not u.accepted for u in updates])
    with transaction.atomic():
        parent_model = None
        if number > 0:
            parent_model = Round.objects.filter(experiment=experiment, number=number - 1).values_list(
                "global_model_hash", flat=True
            ).first()
            if parent_model is None:
                raise RoundError(f"round {number} cannot be recorded before round {number - 1}")
        # Updates read back from the store (trained by workers) are there already: only new blobs are written.
        model_hash, *fresh = blobs_write([global_params, *(u.update for u in updates if not u.update_hash)])
        fresh = iter(fresh)
        update_hashes = [update.update_hash or next(fresh) for update in updates]
        baseline_hash = blob_write(baseline_params) if baseline_params is not None else ""
        try:
            with transaction.atomic():
                round_row = Round.objects.create(
                    experiment=experiment,
                    number=number,
                    global_model_hash=model_hash,
                    test_loss=metrics["test_loss"],
                    test_accuracy=metrics["test_accuracy"],
                    baseline_model_hash=baseline_hash,
                    baseline_loss=metrics.get("baseline_loss"),
                    baseline_accuracy=metrics.get("baseline_accuracy"),
                    clients_sampled=clients_sampled,
                    clients_dropped=clients_sampled - len({update.client_index for update in updates}),
                    clients_accepted=sum(update.accepted for update in updates),
                    train_seconds=metrics.get("train_seconds", 0.0),
                    aggregate_seconds=metrics.get("aggregate_seconds", 0.0),
                    evaluate_seconds=metrics.get("evaluate_seconds", 0.0),
                    epsilon=metrics.get("epsilon"),
                    true_positive_rate=detection[0],
                    false_positive_rate=detection[1],
                )
        except IntegrityError:
            raise RoundError(f"round {number} of experiment {experiment.id} is already recorded") from None
        clients = dict(
            Client.objects.filter(experiment=experiment, index__in=[u.client_index for u in updates]).values_list(
                "index", "pk"
            )
        )
        rows, records = [], []
        if number == 0:
            records.append(ledger_records.experiment_record(experiment_id=experiment.id, config=experiment_config))
        for update, update_hash in zip(updates, update_hashes):
            if update.client_index not in clients:
                raise RoundError(f"there is no client {update.client_index} in experiment {experiment.id}")
            rows.append(
                (
                    round_row.pk,
                    clients[update.client_index],
                    update.samples,
                    update_hash,
                    update.train_loss,
                    update.accepted,
                    update.reason[:300],
                    update.worker[:200],
                    update.train_seconds,
                )
            )
            records.append(
                ledger_records.client_update_record(
                    experiment_id=experiment.id,
                    round_number=number,
                    client=update.client_index,
                    samples=update.samples,
                    update=update_hash,
                    metrics=_update_metrics(update),
                    accepted=update.accepted,
                    reason=update.reason[:300],
                )
            )
        rows_insert(ClientUpdate, _CLIENT_UPDATE_FIELDS, rows)
        records.append(
            ledger_records.global_model_record(
                experiment_id=experiment.id,
                round_number=number,
                model=model_hash,
                aggregator=aggregator,
                loss=metrics["test_loss"],
                accuracy=metrics["test_accuracy"],
                privacy={"epsilon": metrics["epsilon"], "delta": config.dp_delta} if config and config.dp else None,
            )
        )
        if config and config.rewards:
            records += [
                ledger_records.reward_record(
                    experiment_id=experiment.id,
                    round_number=number,
                    client=update.client_index,
                    amount=update.samples * config.reward_per_sample,
                    kind=ledger_records.DATA_REWARD,
                )
                for update in updates
                if update.accepted
            ]
        batch_submit(
            experiment_id=experiment.id,
            round_number=number,
            parent_model=parent_model,
            difficulty_bits=experiment.difficulty_bits,
            records=records,
            mining_reward=config.mining_reward if config and config.rewards else None,
        )
        event_emit(type="round", payload=round_payload(round_row), experiment_id=experiment.id)
    return round_row


def _update_metrics(update):
    if update.metrics is not None:
        return update.metrics
    return {} if update.train_loss is None else {"train_loss": update.train_loss}


def round_record_aggregated(*, experiment, outcome):
    """round_record of what round_aggregate (or round_initial) made."""
    return round_record(
        experiment=experiment,
        number=outcome.number,
        updates=outcome.updates,
        global_params=outcome.global_params,
        metrics=outcome.metrics,
        baseline_params=outcome.baseline_params,
    )


def experiment_run_round(*, experiment, number, worker=None):
    """Trains the round's sampled clients in this process, aggregates and records round `number`."""
    if number == 0:
        outcome = round_initial(experiment=experiment)
    else:
        federation = federation_for(experiment.config())
        previous = round_global_params(experiment=experiment, number=number - 1)
        worker = process_name() if worker is None else worker
        updates = [
            _client_train(federation, previous, number, int(index), worker)
            for index in federation.round_clients(number)
        ]
        outcome = round_aggregate(experiment=experiment, round_number=number, updates=updates, previous=previous)
    return round_record_aggregated(experiment=experiment, outcome=outcome)


def experiment_next_round(experiment):
    """The number of the first round not recorded yet."""
    last = experiment.round_set.order_by("-number").values_list("number", flat=True).first()
    return 0 if last is None else last + 1


def experiment_run(*, experiment, on_round=None):
    """Runs the experiment's remaining rounds in this process, mining each round's block right after it is
    recorded; `on_round(round, block)` is called after each. The experiment ends finished, or failed with the
    reason (and the exception re-raised), or cancelled on KeyboardInterrupt."""
    experiment_status_set(experiment=experiment, status=Experiment.Status.RUNNING)
    try:
        for number in range(experiment_next_round(experiment), experiment.config().rounds_to_run + 1):
            round_row = experiment_run_round(experiment=experiment, number=number)
            block = block_mine(batch=round_batch(round_row))
            if on_round is not None:
                on_round(round_row, block)
    except KeyboardInterrupt:
        experiment_status_set(experiment=experiment, status=Experiment.Status.CANCELLED, error="interrupted")
        raise
    except Exception as error:
        experiment_status_set(experiment=experiment, status=Experiment.Status.FAILED, error=str(error) or repr(error))
        raise
    return experiment_status_set(experiment=experiment, status=Experiment.Status.FINISHED)


# An audit kept as running for longer than this was abandoned (its process died): the next reader runs it again.
AUDIT_ABANDONED_AFTER = timedelta(minutes=10)


def round_audit_kept(*, experiment, number, again=False):
    """The round's audit against the main-chain block that holds its records now: the one kept for that block,
    or computed now and kept, so that any number of readers cost one audit per block. Returns (AuditReport,
    when it was audited), or (None, when it started) while another request is computing it. `again` (for
    someone allowed to ask) audits anew and replaces what was kept. A round in no main block is audited each
    time (that is cheap: the audit stops at once)."""
    block = (
        Record.objects.filter(experiment_id=experiment.id, round_number=number, block__status=Block.Status.MAIN)
        .values_list("block__hash", "block__height").first()
    )
    if block is None:
        return round_audit(experiment=experiment, number=number), None
    block_hash, height = block
    row = Round.objects.get(experiment=experiment, number=number)
    now = timezone.now()
    kept = RoundAudit.objects.filter(round=row, block_hash=block_hash).first()
    if kept is None:
        try:
            with transaction.atomic():
                kept = RoundAudit.objects.create(round=row, block_hash=block_hash, block_height=height, started_at=now)
        except IntegrityError:
            return None, now  # another request started it a moment ago
    elif kept.problems is not None and not again:
        return _kept_report(experiment, number, kept), kept.audited_at
    elif kept.problems is None and kept.started_at > now - AUDIT_ABANDONED_AFTER:
        return None, kept.started_at
    elif not RoundAudit.objects.filter(pk=kept.pk, started_at=kept.started_at).update(started_at=now):
        return None, now  # another request took it over a moment ago
    report = round_audit(experiment=experiment, number=number)
    audited_at = timezone.now()
    RoundAudit.objects.filter(pk=kept.pk).update(
        problems=report.problems, rule=report.rule, block_height=report.block_height or height, audited_at=audited_at
    )
    return report, audited_at


def _kept_report(experiment, number, kept):
    return AuditReport(experiment.id, number, list(kept.problems), kept.block_height, kept.rule)
