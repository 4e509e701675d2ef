"""One shape per entity: a block, a round and an experiment look the same in the JSON API, the websocket's
events and `run_experiment --json`."""

import pytest
from django.test import Client

from apps.events.models import Event
from apps.explorer.openapi import BLOCK_PROPERTIES, ROUND_PROPERTIES
from apps.federated.models import Experiment
from apps.federated.selectors import ROUND_FIELDS, experiment_payload, experiment_summary

pytestmark = pytest.mark.django_db


def test_a_block_event_says_what_the_api_says_of_the_block(experiment_chain):
    event = Event.objects.filter(type=Event.Type.BLOCK).order_by("-id").first()
    assert set(event.payload) == set(BLOCK_PROPERTIES)
    shown = Client().get(f"/api/blocks/{event.payload['hash']}/").json()
    assert {name: shown[name] for name in BLOCK_PROPERTIES} == event.payload


def test_a_round_event_the_api_and_the_command_line_show_a_round_alike(experiment_chain):
    assert set(ROUND_FIELDS) == set(ROUND_PROPERTIES)
    experiment = Experiment.objects.get(pk=experiment_chain.id)
    metrics = Client().get(f"/api/experiments/{experiment.id}/").json()["metrics"]
    events = {e.payload["round"]: e.payload for e in Event.objects.filter(type=Event.Type.ROUND, experiment_id=experiment.id)}
    assert metrics == [events[row["round"]] for row in metrics]
    listed = Client().get(f"/api/experiments/{experiment.id}/rounds/").json()["rounds"]
    assert [{name: row[name] for name in ROUND_FIELDS} for row in listed] == metrics
    summary = experiment_summary(experiment)
    assert [{name: row[name] for name in ROUND_FIELDS} for row in summary["rounds"]] == metrics
    assert {name: summary[name] for name in experiment_payload(experiment)} == experiment_payload(experiment)
