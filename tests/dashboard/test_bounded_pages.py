"""An experiment page costs the same at 10 000 clients as at 200: the page (and its websocket snapshot) carries
one page of clients, and links the next."""

import json
import re

import pytest

from apps.dashboard.selectors import CLIENTS_PAGE, experiment_state
from apps.federated.models import Client
from apps.federated.services import experiment_create
from tests.crowd import clients_add

pytestmark = pytest.mark.django_db

CLIENTS = 10_000
PAGE_BYTES = 60_000  # the page with 200 clients' links and chart data is about 40 KB


@pytest.fixture
def crowded_experiment():
    """An experiment of 10 000 clients, built as rows (nobody trains them)."""
    experiment = experiment_create(dataset="digits", clients=3, rounds=1, baseline=False)
    clients_add(experiment, up_to=CLIENTS)
    assert Client.objects.filter(experiment=experiment).count() == CLIENTS
    return experiment


def page_through(client, url, experiment_id, *, anchor, max_bytes, max_pages, part=lambda page: page):
    """(client indexes linked from `part` of each page, pages read) following the rel="next" links from `url`;
    every page answers 200 within `max_bytes`."""
    seen, path, pages = [], url, 0
    while path is not None and pages < max_pages:
        response = client.get(path)
        assert response.status_code == 200
        assert len(response.content) < max_bytes, (path, len(response.content))
        page = response.content.decode()
        seen += [int(index) for index in re.findall(rf'href="/experiments/{experiment_id}/clients/(\d+)/"', part(page))]
        following = re.search(rf'href="\?clients_after=(\d+)#{anchor}" rel="next"', page)
        path = f"{url}?clients_after={following.group(1)}" if following else None
        pages += 1
    return seen, pages


def test_the_snapshot_carries_one_page_of_clients_and_their_count(crowded_experiment):
    state = experiment_state(crowded_experiment.id)
    assert [client["index"] for client in state["clients"]] == list(range(CLIENTS_PAGE))
    assert state["client_count"] == CLIENTS
    assert len(json.dumps(state)) < PAGE_BYTES


def test_the_page_is_bounded_and_pages_through_every_client(client, crowded_experiment):
    url = f"/experiments/{crowded_experiment.id}/"
    seen, pages = page_through(
        client, url, crowded_experiment.id, anchor="client-pages", max_bytes=PAGE_BYTES,
        max_pages=CLIENTS // CLIENTS_PAGE + 1,
        part=lambda page: re.search(r'<p class="client-links">(.*?)</p>', page, re.S).group(1),
    )
    assert seen == list(range(CLIENTS)) and pages == CLIENTS // CLIENTS_PAGE
    assert f"(the first {CLIENTS_PAGE} of {CLIENTS})" in client.get(url).content.decode()


@pytest.mark.parametrize("value", ["x", "-1", "1" * 20])
def test_a_malformed_client_cursor_is_a_clear_400(client, crowded_experiment, value):
    response = client.get(f"/experiments/{crowded_experiment.id}/?clients_after={value}")
    assert response.status_code == 400
    assert "clients_after must be a whole number" in response.content.decode()


def test_an_experiment_of_many_rounds_carries_the_newest_of_them(client):
    from apps.dashboard.selectors import ROUNDS_SHOWN
    from tests.crowd import rounds_add

    experiment = experiment_create(dataset="digits", clients=3, rounds=3000, baseline=False)
    rounds_add(experiment, up_to=3000)
    state = experiment_state(experiment.id)
    assert [entry["round"] for entry in state["rounds"]] == list(range(3000 - ROUNDS_SHOWN, 3000))
    assert state["round_count"] == 3000
    response = client.get(f"/experiments/{experiment.id}/")
    assert response.status_code == 200 and len(response.content) < 400_000
    assert f"(the newest {ROUNDS_SHOWN} of 3000" in response.content.decode()


def test_a_round_page_is_bounded_and_pages_through_every_update(client, crowded_experiment):
    from apps.explorer.selectors import ROUND_PAGE_CLIENTS
    from apps.federated.models import Round
    from tests.crowd import rounds_add, updates_add

    rounds_add(crowded_experiment, up_to=2)
    updates_add(Round.objects.get(experiment=crowded_experiment, number=1))
    url = f"/experiments/{crowded_experiment.id}/rounds/1/"
    seen, pages = page_through(
        client, url, crowded_experiment.id, anchor="updates", max_bytes=2 * PAGE_BYTES,
        max_pages=CLIENTS // ROUND_PAGE_CLIENTS + 1,
    )
    assert seen == list(range(CLIENTS)) and pages == CLIENTS // ROUND_PAGE_CLIENTS
    assert f"Client updates ({CLIENTS})" in client.get(url).content.decode()
    assert client.get(f"{url}?clients_after=x").status_code == 400
