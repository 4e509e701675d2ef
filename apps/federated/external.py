"""Writes of external federations (Flower): declaring one, and recording each round it submits.

A round is checked whole before anything is stored (flower.py: the submission, every blob's hash, shapes and
finite values); then it is recorded by `round_record`, the path every round takes, and its mining is queued as
any recorded round's is. Submitting the same round again (a retry after a lost answer) is answered with the round
already recorded when it is the same round, and refused when it differs.
"""

from django.db import transaction
from django.utils import timezone

from apps.events.services import event_emit

from .blobs import content_address
from .flower import FlowerError, blob_check, declaration_validate, selected, submission_validate
from .models import Client, ClientUpdate, Experiment, Round
from .selectors import experiment_payload
from .services import RoundError, TrainedUpdate, round_record


class SubmissionConflict(FlowerError):
    """The submission contradicts what is recorded (another round under the same number, a finished experiment)."""


def flower_experiment_declare(*, owner, declaration):
    """(experiment, created): a running external experiment owned by `owner`; FlowerError if the declaration is
    invalid. A declaration repeated with the same key returns the experiment it created."""
    clean = declaration_validate(declaration)
    with transaction.atomic():
        if clean["key"]:
            existing = Experiment.objects.filter(kind=Experiment.Kind.FLOWER, owner=owner, external__key=clean["key"])
            if (found := existing.first()) is not None:
                return found, False
        experiment = Experiment.objects.create(
            name=clean["name"] or f"Flower federation ({clean['strategy']['name']})",
            kind=Experiment.Kind.FLOWER,
            owner=owner,
            external={key: clean[key] for key in ("key", "layers", "strategy", "rule")},
            rounds=clean["rounds"],
            clients=0,
            baseline=False,
            status=Experiment.Status.RUNNING,
            started_at=timezone.now(),
        )
        event_emit(type="experiment", payload=experiment_payload(experiment), experiment_id=experiment.id)
    return experiment, True


def flower_chain_config(experiment):
    """The experiment record's config of an external experiment: what determines its records (no names)."""
    external = experiment.external
    return {"kind": experiment.kind, "layers": external["layers"], "strategy": external["strategy"],
            "rule": external["rule"]}


def flower_round_submit(*, experiment, submission, blobs):
    """(round, created): records a submitted round of an external experiment and queues its mining.

    submission: the round's JSON (flower.submission_validate); blobs: {claimed SHA-256: bytes} as uploaded.
    Raises FlowerError (or SubmissionConflict) saying what is wrong; nothing is stored then.
    """
    from .lifecycle import FINISH, _job, _mine_job

    if experiment.kind != Experiment.Kind.FLOWER:
        raise FlowerError(f"experiment {experiment.id} is not an external federation")
    clean = submission_validate(submission)
    number = clean["round"]
    needed = [clean["global_model"], *(update["update"] for update in clean["updates"])]
    missing = sorted(set(needed) - set(blobs))
    if missing:
        raise FlowerError(f"the blobs {', '.join(missing)} are named in the round but not uploaded")
    extra = sorted(set(blobs) - set(needed))
    if extra:
        raise FlowerError(f"the uploaded blobs {', '.join(extra)} are not named in the round")
    layers = experiment.external["layers"]
    vectors = {}
    for claimed, data in blobs.items():
        actual = content_address(data)
        if actual != claimed:
            raise FlowerError(f"the blob uploaded as {claimed} hashes to {actual}")
        what = "the global model" if claimed == clean["global_model"] else f"the update {claimed}"
        vectors[claimed] = blob_check(layers, data, what)
    # Which updates the strategy aggregated, when its rule can tell (Krum selects some); all of them otherwise.
    chosen = selected(experiment.external["rule"], experiment.external["strategy"]["settings"], layers,
                      [vectors[update["update"]] for update in clean["updates"]])
    chosen = set(range(len(clean["updates"])) if chosen is None else chosen)

    with transaction.atomic():
        locked = Experiment.objects.select_for_update().get(pk=experiment.pk)
        recorded = Round.objects.filter(experiment=locked, number=number).first()
        if recorded is not None:
            if _same_round(recorded, clean):
                return recorded, False
            raise SubmissionConflict(f"round {number} of experiment {locked.id} is already recorded, differently")
        if locked.status != Experiment.Status.RUNNING and locked.status != Experiment.Status.PAUSED:
            raise SubmissionConflict(f"experiment {locked.id} is {locked.status}: it takes no more rounds")
        last = Round.objects.filter(experiment=locked).order_by("-number").values_list("number", flat=True).first()
        expected = 0 if last is None else last + 1
        if number != expected:
            raise SubmissionConflict(f"experiment {locked.id} expects round {expected} next, not round {number}")
        clients = _clients_for(locked, clean["updates"])
        updates = [
            TrainedUpdate(
                client_index=clients[update["node"]],
                samples=update["samples"],
                update=blobs[update["update"]],
                train_loss=_train_loss(update["metrics"]),
                metrics=update["metrics"],
                accepted=position in chosen,
                reason="" if position in chosen else f"{experiment.external['rule']}: not selected",
            )
            for position, update in enumerate(clean["updates"])
        ]
        strategy = locked.external["strategy"]
        try:
            round_row = round_record(
                experiment=locked,
                number=number,
                updates=updates,
                global_params=blobs[clean["global_model"]],
                metrics={"test_loss": clean["loss"], "test_accuracy": clean["accuracy"]},
                external={
                    "sampled": len(updates) + clean["dropped"],
                    "config": flower_chain_config(locked),
                    "aggregator": f"flower:{strategy['name']}",
                },
            )
        except RoundError as error:
            raise FlowerError(str(error)) from None
        mine = _mine_job(locked.pk, number)
        if locked.rounds and number >= locked.rounds:
            _job(FINISH, locked.pk, after=mine)
    return round_row, True


def _same_round(recorded, clean):
    if recorded.global_model_hash != clean["global_model"]:
        return False
    stored = list(
        ClientUpdate.objects.filter(round=recorded).order_by("client__index").values_list("update_hash", flat=True)
    )
    return sorted(stored) == sorted(update["update"] for update in clean["updates"])


def _clients_for(experiment, updates):
    """{node id: client index}, creating a client for each node seen for the first time."""
    known = dict(Client.objects.filter(experiment=experiment).values_list("external_id", "index"))
    next_index = max(known.values(), default=-1) + 1
    new = []
    for update in updates:
        if update["node"] not in known:
            known[update["node"]] = next_index
            new.append(Client(experiment=experiment, index=next_index, shard_size=update["samples"], label_counts=[],
                              external_id=update["node"]))
            next_index += 1
    Client.objects.bulk_create(new)
    if new:
        Experiment.objects.filter(pk=experiment.pk).update(clients=next_index)
    return known


def _train_loss(metrics):
    value = metrics.get("train_loss")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
