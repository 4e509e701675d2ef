"""Reads of the federated app: experiment summaries and round audits against the chain."""

import json

from django.conf import settings
from django.db.models import Max
from dataclasses import dataclass

from apps.ledger import records as ledger_records
from apps.ledger.models import Block, PendingBatch, Record

from .audit import ChainRound, ChainUpdate, flower_round_rederive, round_rederive
from .flower import INITIAL_MODEL, FlowerError, flower_chain_declaration
from .budget import Committed, Limits, budget_refusals, experiment_cost
from .config import ConfigError, experiment_config_validate
from .engine import federation_for
from .models import Client, Experiment, Round
from .storage import blobs_read


def budget_limits():
    """The work budget's limits, from the FEDCHAIN_BUDGET_* settings."""
    return Limits(
        core_seconds=settings.FEDCHAIN_BUDGET_CORE_SECONDS,
        stored_bytes=settings.FEDCHAIN_BUDGET_STORED_BYTES,
        job_memory_bytes=settings.FEDCHAIN_BUDGET_JOB_MEMORY_BYTES,
        user_core_seconds=settings.FEDCHAIN_BUDGET_USER_CORE_SECONDS,
        user_experiments=settings.FEDCHAIN_BUDGET_USER_EXPERIMENTS,
        site_core_seconds=settings.FEDCHAIN_BUDGET_SITE_CORE_SECONDS,
        site_stored_bytes=settings.FEDCHAIN_BUDGET_SITE_STORED_BYTES,
    )


def experiment_config_cost(config):
    """The estimated Cost of an experiment's settings on this node's chain."""
    return experiment_cost(
        config, pow_limit_bits=settings.FEDCHAIN_POW_LIMIT_BITS, max_block_records=settings.FEDCHAIN_MAX_BLOCK_RECORDS
    )


def experiment_budget_refusals(config, *, owner=None):
    """{setting: [message]} for each work-budget limit a new experiment of these settings would exceed: its own,
    its owner's (a user; None for a command's), the installation's."""
    return budget_refusals(
        experiment_config_cost(config),
        limits=budget_limits(),
        user=budget_committed(owner=owner) if owner is not None else None,
        site=budget_committed(),
    )


def budget_committed(*, owner=None):
    """What the unfinished experiments that train here (of `owner`, or all of them) still have to do: each one's
    cost for the rounds it has not recorded yet."""
    unfinished = Experiment.objects.filter(
        status__in=[Experiment.Status.QUEUED, Experiment.Status.RUNNING, Experiment.Status.PAUSED],
        kind=Experiment.Kind.SIMULATED,
    )
    if owner is not None:
        unfinished = unfinished.filter(owner=owner)
    recorded = dict(
        Round.objects.filter(experiment__in=unfinished).values("experiment").annotate(last=Max("number"))
        .values_list("experiment", "last")
    )
    committed = Committed()
    for experiment in unfinished:
        try:
            cost = experiment_config_cost(experiment.config())
        except ConfigError:
            continue  # settings stored by an older version that no longer validate: they cannot run either
        left = (experiment.rounds - recorded.get(experiment.pk, -1)) / (experiment.rounds + 1)
        committed = committed.add(cost.share(left))
    return committed


def round_batch(round_row):
    """The ledger batch holding the round's records (pending or mined)."""
    return PendingBatch.objects.get(experiment_id=round_row.experiment_id, round_number=round_row.number)


def chain_height():
    """Height of the main chain's tip (0 when only the genesis block exists, -1 before it)."""
    tip = Block.objects.filter(status=Block.Status.MAIN).order_by("-height").values_list("height", flat=True).first()
    return -1 if tip is None else tip


def experiment_payload(experiment):
    return {
        "id": experiment.id,
        "name": experiment.name,
        "status": experiment.status,
        "error": experiment.error,
        "settings": experiment.settings(),
        "kind": experiment.kind,
        # An external federation's declaration: its layers, strategy and the rule that re-derives its rounds.
        "external": {key: experiment.external[key] for key in ("layers", "strategy", "rule") if key in experiment.external},
        "created_at": experiment.created_at.isoformat(),
        "started_at": experiment.started_at and experiment.started_at.isoformat(),
        "finished_at": experiment.finished_at and experiment.finished_at.isoformat(),
    }


# A round as every output shows it (the API, the websocket's `round` event, `run_experiment --json`, the
# downloads): each name and the Round column it comes from. "loss" and "accuracy" are the global model's on the
# test split, named as the chain's global_model record names them.
ROUND_FIELDS = {
    "experiment": "experiment_id",
    "round": "number",
    "global_model": "global_model_hash",
    "loss": "test_loss",
    "accuracy": "test_accuracy",
    "baseline_loss": "baseline_loss",
    "baseline_accuracy": "baseline_accuracy",
    "clients_sampled": "clients_sampled",
    "clients_dropped": "clients_dropped",
    "clients_accepted": "clients_accepted",
    "epsilon": "epsilon",
    "true_positive_rate": "true_positive_rate",
    "false_positive_rate": "false_positive_rate",
    "train_seconds": "train_seconds",
    "aggregate_seconds": "aggregate_seconds",
    "evaluate_seconds": "evaluate_seconds",
}


def round_payload(round_row):
    """The round's one shape (ROUND_FIELDS)."""
    return {name: getattr(round_row, column) for name, column in ROUND_FIELDS.items()}


def experiment_summary(experiment):
    """The experiment (its one shape), its rounds (theirs, each with the height of the main block that holds
    it), final metrics and the chain's height: what `run_experiment --json` prints."""
    heights = dict(
        Block.objects.filter(experiment_id=experiment.id, status=Block.Status.MAIN).values_list("round_number", "height")
    )
    rounds = [
        {**round_payload(row), "block_height": heights.get(row.number)} for row in experiment.round_set.order_by("number")
    ]
    final = rounds[-1] if rounds else {}
    return {
        **experiment_payload(experiment),
        "rounds": rounds,
        "final_loss": final.get("loss"),
        "final_accuracy": final.get("accuracy"),
        "baseline_accuracy": final.get("baseline_accuracy"),
        "final_epsilon": final.get("epsilon"),
        "rounds_to_run": experiment.config().rounds_to_run,
        "malicious_clients": list(
            Client.objects.filter(experiment=experiment, malicious=True).order_by("index").values_list("index", flat=True)
        ),
        "chain_height": chain_height(),
    }


def _main_chain_rewards(experiment_id):
    """(round, kind, recipient, amount) of each reward record of the experiment on the main chain, in chain
    order."""
    rows = Record.objects.filter(
        experiment_id=experiment_id, type=ledger_records.REWARD, block__status=Block.Status.MAIN
    ).order_by("block__height", "position")
    for body in rows.values_list("body", flat=True).iterator():
        record = json.loads(body)
        yield record["round"], record.get("kind", ledger_records.DATA_REWARD), record["client"], record["amount"]


def experiment_balances(experiment):
    """The experiment's reward balances as its main-chain reward records add them up (JSON-ready): clients by
    index, miner nodes by public key id."""
    clients, miners = {}, {}
    for _, kind, recipient, amount in _main_chain_rewards(experiment.id):
        owner = miners if kind == ledger_records.MINING_REWARD else clients
        owner[recipient] = owner.get(recipient, 0.0) + amount
    return {
        "experiment": experiment.id,
        "rewards": experiment.rewards,
        "clients": [{"client": index, "balance": clients[index]} for index in sorted(clients, key=str)],
        "miners": [{"node": node, "balance": miners[node]} for node in sorted(miners)],
        "total": sum(clients.values()) + sum(miners.values()),
    }


def client_history(client):
    """A client's updates round by round (accepted or rejected and why, training loss, its reward on the main
    chain and its balance after the round), JSON-ready."""
    rewards = {}
    for number, kind, recipient, amount in _main_chain_rewards(client.experiment_id):
        if kind == ledger_records.DATA_REWARD and recipient == client.index:
            rewards[number] = rewards.get(number, 0.0) + amount
    balance, rounds = 0.0, []
    for update in client.update_set.select_related("round").order_by("round__number"):
        number = update.round.number
        reward = rewards.get(number)
        balance += reward or 0.0
        rounds.append({
            "round": number,
            "samples": update.samples,
            "accepted": update.accepted,
            "reason": update.reason,
            "train_loss": update.train_loss,
            "update": update.update_hash,
            "reward": reward,
            "balance": balance,
        })
    return {
        "experiment": client.experiment_id,
        "client": client.index,
        "shard_size": client.shard_size,
        "label_counts": client.label_counts,
        "malicious": client.malicious,
        "rounds": rounds,
        "balance": balance,
    }


@dataclass(frozen=True)
class AuditReport:
    experiment_id: int
    round_number: int
    problems: list[str]
    block_height: int | None = None
    rule: str = ""  # how the global model was re-derived (an external federation's rule, flower.py)

    @property
    def ok(self):
        return not self.problems


def chain_experiment_config(experiment_id):
    """The settings an experiment's round 0 block commits (its experiment record), validated; None when the main
    chain holds no readable one. How a node audits an experiment that another node ran."""
    try:
        return experiment_config_validate(_chain_experiment_record(experiment_id))
    except (TypeError, ValueError, KeyError, ConfigError):
        return None


def _chain_experiment_record(experiment_id):
    """The config an experiment's experiment record on the main chain holds, as recorded (None without one)."""
    body = (
        Record.objects.filter(experiment_id=experiment_id, type=ledger_records.EXPERIMENT, block__status=Block.Status.MAIN)
        .values_list("body", flat=True)
        .first()
    )
    try:
        return json.loads(body)["config"]
    except (TypeError, ValueError, KeyError):
        return None


def _flower_declaration(experiment, experiment_id):
    """(external declaration or None, problem or None): an external federation's layers, strategy and rule, from
    the experiment row, or for another node's experiment from its chain record, checked (the rule recomputed)."""
    if experiment is not None:
        return (experiment.external, None) if experiment.kind == experiment.Kind.FLOWER else (None, None)
    recorded = _chain_experiment_record(experiment_id)
    if not isinstance(recorded, dict) or recorded.get("kind") != "flower":
        return None, None
    try:
        return flower_chain_declaration(recorded), None
    except FlowerError as error:
        return None, f"the chain's record of external experiment {experiment_id} is not valid: {error}"


def round_audit(*, number, experiment=None, experiment_id=None):
    """Checks a recorded round against the chain: the records of the round in a main-chain block, every blob
    they name re-hashed, the global model re-derived from the recorded updates, and the database rows compared
    with the chain. Returns an AuditReport (ok, or the problems found).

    Without `experiment` (a round another node trained), `experiment_id` names it and the settings come from
    the chain's experiment record; there are no rows of this node to compare then."""
    experiment_id = experiment.id if experiment is not None else experiment_id

    def report(problems, height=None):
        return AuditReport(experiment_id, number, problems, height)

    rows = Record.objects.filter(
        experiment_id=experiment_id, round_number=number, block__status=Block.Status.MAIN
    ).select_related("block")
    rows = list(rows.order_by("block__height", "position"))
    if not rows:
        return report([f"round {number} of experiment {experiment_id} is in no block of the main chain"])
    heights = {row.block.height for row in rows}
    if len(heights) != 1:
        return report([f"round {number}'s records are spread over blocks {sorted(heights)}"])
    height = heights.pop()
    try:
        bodies = [ledger_records.parse_canonical(row.body.encode()) for row in rows]
    except ValueError as error:
        return report([f"a record of block {height} is not canonical JSON: {error}"], height)
    try:
        chain_round, problems = _chain_round(bodies, number)
    except (KeyError, TypeError) as error:
        chain_round, problems = None, [f"a record of block {height} lacks a field the audit needs: {error}"]
    if chain_round is None:
        return report(problems, height)

    blobs = blobs_read([chain_round.parent_model, chain_round.model, *(update.update for update in chain_round.updates)])
    update_blobs = {update.update: blobs[update.update] for update in chain_round.updates}
    rule = ""
    external, problem = _flower_declaration(experiment, experiment_id)
    if problem:
        return report([problem], height)
    if external is not None:
        rule = external["rule"] if number else INITIAL_MODEL
        problems += flower_round_rederive(
            external, chain_round, model_blob=blobs[chain_round.model], update_blobs=update_blobs
        )
    else:
        config = experiment.config() if experiment is not None else chain_experiment_config(experiment_id)
        if config is None:
            return report([f"the main chain holds no readable experiment record of experiment {experiment_id}"], height)
        federation = federation_for(config)
        previous_blob = blobs[chain_round.parent_model] if chain_round.parent_model else None
        problems += round_rederive(
            federation, chain_round, previous_blob=previous_blob, update_blobs=update_blobs,
            model_blob=blobs[chain_round.model],
        )
    if experiment is not None:
        problems += _database_disagreements(experiment, number, chain_round)
    return AuditReport(experiment_id, number, problems, height, rule)


def _chain_round(bodies, number):
    """(ChainRound, problems) from a block's records; ChainRound is None when the records are incomplete."""
    by_type = {}
    for body in bodies:
        by_type.setdefault(body.get("type"), []).append(body)
    coinbase = by_type.get(ledger_records.COINBASE, [])
    models = by_type.get(ledger_records.GLOBAL_MODEL, [])
    if len(coinbase) != 1 or len(models) != 1:
        return None, [f"round {number}'s block should hold one coinbase and one global model record; "
                      f"it holds {len(coinbase)} and {len(models)}"]
    model = models[0]
    updates = [
        ChainUpdate(body["client"], body["samples"], body["update"], body["accepted"], body.get("metrics") or {})
        for body in by_type.get(ledger_records.CLIENT_UPDATE, [])
    ]
    clients = [update.client for update in updates]
    if len(set(clients)) != len(clients):
        return None, [f"round {number}'s block records two updates from one client"]
    chain_round = ChainRound(
        number=number,
        parent_model=coinbase[0]["parent_model"],
        model=model["model"],
        loss=model["loss"],
        accuracy=model["accuracy"],
        updates=updates,
        privacy=model.get("privacy"),
    )
    return chain_round, []


def _database_disagreements(experiment, number, chain_round):
    problems = []
    row = Round.objects.filter(experiment=experiment, number=number).first()
    if row is None:
        return [f"the database has no round {number} for experiment {experiment.id}"]
    if row.global_model_hash != chain_round.model:
        problems.append(f"the database's global model {row.global_model_hash} differs from the chain's")
    if (row.test_loss, row.test_accuracy) != (chain_round.loss, chain_round.accuracy):
        problems.append("the database's test loss or accuracy differs from the chain's")
    stored = {
        (update.client.index, update.samples, update.update_hash, update.accepted)
        for update in row.update_set.select_related("client")
    }
    chained = {(u.client, u.samples, u.update, u.accepted) for u in chain_round.updates}
    if stored != chained:
        problems.append(
            "the database's client updates differ from the chain's: "
            + json.dumps({"database only": sorted(map(list, stored - chained)),
                          "chain only": sorted(map(list, chained - stored))})
        )
    return problems
