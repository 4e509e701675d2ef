"""ChainRecorder in this process, over a grid that answers with the example's own client training, against a
live FedChain: the same replies give bit-identical results wrapped or not, and no round is ever dropped silently.

(Across separate runs of a real federation Flower sums FedAvg in the order replies arrive, which varies; here the
replies come in the same order both times, so the comparison is exact. test_federation.py runs the real thing.)
"""

import sys

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from flwr.app import Array, ArrayRecord, Message, MetricRecord, RecordDict
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, FedMedian
from flwr.supercore.task_identity import TaskIdentity

from apps.federated.models import Experiment
from apps.federated.selectors import round_audit
from apps.ledger.models import PendingBatch
from apps.ledger.store import block_mine
from apps.tokens.services import api_token_create
from fedchain_flower import ChainRecorder, RecordingError
from tests.conftest import free_port

sys.path.insert(0, str(settings.BASE_DIR / "examples" / "flower_digits"))
from fedchain_digits import task  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)
NODES = (101, 202, 303)
ROUNDS = 3


@pytest.fixture(autouse=True)
def server_app_identity(monkeypatch):
    for name, value in (("_run_id", 1), ("_node_id", 0), ("_task_id", 1)):  # what a ServerApp process has
        monkeypatch.setattr(TaskIdentity, name, value)


class ExampleGrid(Grid):
    """Answers each train message with the example's local training on that node's shard, in a fixed order."""

    def set_run(self, run):
        pass

    @property
    def run(self):
        return None

    def create_message(self, *args, **kwargs):
        raise NotImplementedError

    def get_node_ids(self):
        return list(NODES)

    def push_messages(self, messages):
        raise NotImplementedError

    def pull_messages(self, message_ids):
        raise NotImplementedError

    def send_and_receive(self, messages, *, timeout=None):
        replies = []
        for message in sorted(messages, key=lambda m: m.metadata.dst_node_id):
            node = message.metadata.dst_node_id
            partition = NODES.index(node)
            x, y = task.load_shard(partition, len(NODES), 0)
            server_round = int(message.content["config"]["server-round"])
            params, loss = task.train(
                message.content["arrays"].to_numpy_ndarrays(), x, y, epochs=1, batch_size=16, lr=0.1,
                rng=np.random.default_rng([0, server_round, partition]),
            )
            content = RecordDict({
                "arrays": ArrayRecord({"weights": Array(params[0]), "bias": Array(params[1])}),
                "metrics": MetricRecord({"train_loss": loss, "num-examples": len(y)}),
            })
            reply = Message(content=content, dst_node_id=0, message_type=message.metadata.message_type)
            reply.metadata.__dict__["_src_node_id"] = node  # as the SuperLink sets it on a real reply
            replies.append(reply)
        return replies


def _run(strategy):
    x_test, y_test = task.load_test(0)

    def evaluate(server_round, arrays):
        loss, accuracy = task.evaluate(arrays.to_numpy_ndarrays(), x_test, y_test)
        return MetricRecord({"loss": loss, "accuracy": accuracy})

    weights, bias = task.initial_params(0)
    result = strategy.start(
        grid=ExampleGrid(), initial_arrays=ArrayRecord({"weights": Array(weights), "bias": Array(bias)}),
        num_rounds=ROUNDS, evaluate_fn=evaluate,
    )
    return {key: array.numpy() for key, array in result.arrays.items()}


def _strategy(kind):
    return kind(fraction_evaluate=0.0, min_train_nodes=3, min_available_nodes=3)


@pytest.fixture
def token():
    return api_token_create(user=get_user_model().objects.create_user("recorder"), name="test")[1]


@pytest.mark.parametrize("kind", [FedAvg, FedMedian])
def test_recording_leaves_the_results_bit_identical_and_every_round_audits(kind, live_server, token):
    plain = _run(_strategy(kind))
    recorder = ChainRecorder(_strategy(kind), url=live_server.url, token=token, name=kind.__name__)
    recorded = _run(recorder)
    assert plain.keys() == recorded.keys()
    for key in plain:
        assert plain[key].dtype == recorded[key].dtype and plain[key].tobytes() == recorded[key].tobytes()
    experiment = Experiment.objects.get(pk=recorder.experiment)
    assert list(experiment.round_set.values_list("number", flat=True)) == list(range(ROUNDS + 1))
    for batch in PendingBatch.objects.filter(experiment_id=experiment.id).order_by("round_number"):
        block_mine(batch=batch)
    for number in range(ROUNDS + 1):
        assert round_audit(experiment=experiment, number=number).ok


def test_a_refused_token_fails_the_run_rather_than_dropping_rounds(live_server):
    recorder = ChainRecorder(_strategy(FedAvg), url=live_server.url, token="fct_" + "0" * 40)
    with pytest.raises(RecordingError, match="unknown API token"):
        _run(recorder)
    assert not Experiment.objects.exists()


def test_an_unreachable_fedchain_fails_the_run_naming_the_rounds_left(token):
    nowhere = f"http://127.0.0.1:{free_port()}"
    recorder = ChainRecorder(_strategy(FedAvg), url=nowhere, token=token, flush_seconds=1, retry_seconds=0.1)
    with pytest.raises(RecordingError, match=r"round 0, round 1, round 2, round 3 not recorded"):
        _run(recorder)


def test_warn_mode_finishes_the_run_and_names_every_unrecorded_round(token):
    nowhere = f"http://127.0.0.1:{free_port()}"
    recorder = ChainRecorder(_strategy(FedAvg), url=nowhere, token=token, buffer_rounds=1, wait_seconds=0.2,
                             flush_seconds=0.5, retry_seconds=0.1, on_failure="warn")
    plain = _run(_strategy(FedAvg))
    result = _run(recorder)
    assert all(plain[key].tobytes() == result[key].tobytes() for key in plain)
    assert recorder.unrecorded  # each round that found the buffer full is named
    assert set(recorder.unrecorded) | set(recorder._sender.pending()) >= {f"round {n}" for n in range(1, ROUNDS + 1)}


def test_the_example_reads_the_same_digits_as_scikit_learn():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    ours_x, ours_y = task.load_digits()
    assert np.array_equal(x, ours_x) and np.array_equal(y, ours_y)
