"""What a round costs the database, counted statement by statement through the real jobs and tasks (only the
queue is in this process: tests/workers/conftest.py). A round's statements do not grow with its clients, and
stay within the budget counted when the round's statements were last cut down (264 per round at 8 clients and
792 at 32 when each client was a job of its own, 127 when a round's clients were sent out by a job of their
own)."""

import collections
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.federated.lifecycle import experiment_start
from apps.federated.models import Experiment
from apps.federated.services import experiment_create

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET = 118  # statements per round, two worker processes (four train jobs), savepoints and commits included


def statements_of_a_run(queue, *, clients, rounds):
    experiment = experiment_create(dataset="iris", clients=clients, rounds=rounds, difficulty_bits=8, baseline=False)
    with CaptureQueriesContext(connection) as queries:
        experiment_start(experiment=experiment)
        queue.run_all()
    experiment.refresh_from_db()
    assert experiment.status == Experiment.Status.FINISHED, experiment.error
    return [query["sql"] for query in queries.captured_queries]


def kind(sql):
    """What a statement does, to which table: e.g. 'INSERT workers_job'."""
    words = re.sub(r'"[^"]*"\.', "", re.sub(r"^\d+ times: ", "", sql)).split()
    if words[0] in ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT"):
        return words[0]
    table = next((word.strip('"') for word in words if word.startswith('"')), "?")
    return f"{words[0]} {table}"


def per_round(queue, clients):
    """Statements of one round: those of a run of 4 rounds less those of a run of 2, halved; and by kind."""
    short = statements_of_a_run(queue, clients=clients, rounds=2)
    long = statements_of_a_run(queue, clients=clients, rounds=4)
    kinds = collections.Counter(map(kind, long))
    kinds.subtract(collections.Counter(map(kind, short)))
    return (len(long) - len(short)) / 2, {name: count / 2 for name, count in kinds.most_common() if count}


def test_a_round_costs_the_same_statements_whatever_its_clients_and_stays_within_the_budget(queue, settings):
    settings.FEDCHAIN_CLUSTER_WORKERS = 2
    few, few_kinds = per_round(queue, 8)
    many, many_kinds = per_round(queue, 48)
    assert few == many, f"a round of 48 clients costs {many} statements, one of 8 {few}: {many_kinds} / {few_kinds}"
    assert few <= BUDGET, f"{few} statements per round (budget {BUDGET}): {few_kinds}"
