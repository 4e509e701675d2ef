"""ChainRecorder: a Flower strategy that records every round of the strategy it wraps on a FedChain node.

It follows Flower's own wrapping strategies (the differential-privacy wrappers of flwr.serverapp.strategy): it
is a Strategy holding the wrapped one and delegating every step to it. It only reads what passes through:

- aggregate_train: each valid reply's parameters, sample count (the strategy's `weighted_by_key` metric) and
  metrics are serialized and hashed before the wrapped strategy sees the replies (some strategies consume them),
  then the replies go to the wrapped strategy unchanged, in the order Flower received them, and its aggregate is
  returned as it is. That order is recorded: it is the summation order of Flower's FedAvg.
- a round is submitted once Flower has finished it (training, client evaluation, the ServerApp's evaluate_fn),
  that is when the next round is configured or the run ends; its loss and accuracy come from evaluate_fn's
  metrics, else from the clients' aggregated evaluation, else they are recorded as not measured.

Submissions go through a bounded buffer that a background thread sends in order, retrying while FedChain is
unreachable, so training does not wait for FedChain. A round is never dropped silently: when FedChain refuses a
round, or the buffer stays full, or the run ends before the buffer drains, the recorder raises RecordingError
(on_failure="fail", the default) or logs an error naming every round left unrecorded (on_failure="warn").
"""

import collections
import logging
import threading
import time
import uuid

from flwr.serverapp.strategy import Strategy

from apps.federated.flower import UPLOAD_CONTENT_TYPE, upload_encode

from .wire import FLOWER_VERSION, RefusedError, UnreachableError, blob_of, layers_of, metrics_of, post, post_json

# A child of Flower's own logger: its messages go where Flower's go (the run's log on the SuperLink included).
log = logging.getLogger("flwr.fedchain")


class RecordingError(RuntimeError):
    """A round could not be recorded on FedChain (and on_failure="fail")."""


def _settings_of(strategy):
    """The strategy's JSON-ready settings (its public scalar attributes), as recorded with the experiment."""
    settings = {}
    for name, value in sorted(vars(strategy).items()):
        if name.startswith("_"):
            continue
        if value is None or isinstance(value, (bool, int, float, str)):
            settings[name] = value
    return settings


class _Sender(threading.Thread):
    """Sends queued submissions in order, retrying each while FedChain is unreachable."""

    def __init__(self, send, *, capacity, retry_seconds):
        super().__init__(name="fedchain-recorder", daemon=True)
        self.send = send
        self.capacity = capacity
        self.retry_seconds = retry_seconds
        self.queue = collections.deque()
        self.condition = threading.Condition()
        self.refused = None  # the RefusedError that stopped sending
        self.last_problem = None
        self.closed = False

    def put(self, item, *, wait_seconds):
        """Queues the item; False if the buffer stayed full for wait_seconds or sending has stopped."""
        deadline = time.monotonic() + wait_seconds
        with self.condition:
            while len(self.queue) >= self.capacity and self.refused is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.condition.wait(remaining)
            if self.refused is not None:
                return False
            self.queue.append(item)
            self.condition.notify_all()
            return True

    def drain(self, timeout):
        """True once everything queued is sent; False at the timeout or when FedChain refused a submission."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while self.queue and self.refused is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.condition.wait(remaining)
            return not self.queue

    def pending(self):
        with self.condition:
            return [item["what"] for item in self.queue]

    def close(self):
        with self.condition:
            self.closed = True
            self.condition.notify_all()

    def run(self):
        backoff = self.retry_seconds
        while True:
            with self.condition:
                while not self.queue and not self.closed:
                    self.condition.wait()
                if not self.queue:
                    return
                item = self.queue[0]
            try:
                self.send(item)
            except UnreachableError as error:
                if self.last_problem is None:
                    log.warning("FedChain: %s; %s stays buffered and is retried", error, item["what"])
                self.last_problem = str(error)
                with self.condition:
                    if self.closed:
                        return
                    self.condition.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            except RefusedError as error:
                with self.condition:
                    self.refused = error
                    self.condition.notify_all()
                log.error("FedChain refused %s: %s", item["what"], error)
                return
            if self.last_problem is not None:
                log.warning("FedChain reachable again: %s recorded", item["what"])
            self.last_problem = None
            backoff = self.retry_seconds
            with self.condition:
                self.queue.popleft()
                self.condition.notify_all()


class ChainRecorder(Strategy):
    """Wraps a Flower strategy and records each of its rounds on a FedChain node.

    url: the FedChain node (e.g. http://127.0.0.1:8000); token: a FedChain API token (`manage.py api_token create`);
    experiment: the id of an external experiment declared beforehand, or None to declare one named `name` when
    the run starts. buffer_rounds bounds the rounds held while FedChain is unreachable; when the buffer is full
    the run waits up to wait_seconds; at the end it waits up to flush_seconds for the buffer to drain.
    """

    # pylint: disable=too-many-arguments,too-many-instance-attributes
    def __init__(
        self,
        strategy,
        *,
        url,
        token,
        experiment=None,
        name="",
        on_failure="fail",
        buffer_rounds=16,
        wait_seconds=300.0,
        flush_seconds=300.0,
        retry_seconds=0.5,
        timeout=30.0,
        loss_key="loss",
        accuracy_key="accuracy",
        client_loss_key="eval_loss",
        client_accuracy_key="eval_acc",
    ):
        super().__init__()
        if on_failure not in ("fail", "warn"):
            raise ValueError('on_failure is "fail" (raise RecordingError) or "warn" (log every unrecorded round)')
        if buffer_rounds < 1:
            raise ValueError("buffer_rounds must be at least 1")
        self.strategy = strategy
        self.url = url.rstrip("/")
        self.token = token
        self.experiment = experiment
        self.name = name
        self.on_failure = on_failure
        self.wait_seconds = wait_seconds
        self.flush_seconds = flush_seconds
        self.timeout = timeout
        self.keys = {
            "loss": loss_key, "accuracy": accuracy_key, "client_loss": client_loss_key,
            "client_accuracy": client_accuracy_key,
        }
        self.run_key = uuid.uuid4().hex  # makes a retried declaration idempotent
        self.unrecorded = []  # rounds that could not be recorded (on_failure="warn")
        self._sender = _Sender(self._send, capacity=buffer_rounds + 1, retry_seconds=retry_seconds)
        self._sender.start()
        self._rounds = {}  # round number -> what is known of it so far
        self._declared = False
        self._failed = False
        self._num_rounds = 0

    # --- Strategy: every step delegated -------------------------------------------------------------------

    def summary(self):
        log.info("Recording every round on FedChain at %s", self.url)
        self.strategy.summary()

    def configure_train(self, server_round, arrays, config, grid):
        if not self._declared:
            self._rounds.setdefault(0, {"updates": [], "dropped": 0, "global": blob_of(arrays)})
            self._declare(arrays)
        self._submit_before(server_round)
        return self.strategy.configure_train(server_round, arrays, config, grid)

    def aggregate_train(self, server_round, replies):
        replies = list(replies)
        updates, dropped = [], 0
        weight_key = getattr(self.strategy, "weighted_by_key", "num-examples")
        for message in replies:
            if message.has_error():
                dropped += 1
                continue
            content = message.content
            arrays = next(iter(content.array_records.values()), None)
            metrics = metrics_of(next(iter(content.metric_records.values()), None))
            if arrays is None:
                dropped += 1
                continue
            digest, data = blob_of(arrays)
            samples = metrics.get(weight_key)
            if isinstance(samples, float) and samples.is_integer():
                samples = int(samples)
            updates.append(
                {
                    "node": str(message.metadata.src_node_id),
                    "samples": samples if isinstance(samples, int) and samples >= 0 else 0,
                    "update": digest,
                    "metrics": metrics,
                    "blob": data,
                }
            )
        aggregated, train_metrics = self.strategy.aggregate_train(server_round, replies)
        entry = self._rounds.setdefault(server_round, {})
        entry.update(updates=updates, dropped=dropped, train_metrics=metrics_of(train_metrics))
        if aggregated is not None:
            entry["global"] = blob_of(aggregated)
        return aggregated, train_metrics

    def configure_evaluate(self, server_round, arrays, config, grid):
        return self.strategy.configure_evaluate(server_round, arrays, config, grid)

    def aggregate_evaluate(self, server_round, replies):
        metrics = self.strategy.aggregate_evaluate(server_round, replies)
        self._rounds.setdefault(server_round, {})["client_eval"] = metrics_of(metrics)
        return metrics

    def start(self, grid, initial_arrays, num_rounds=3, timeout=3600, train_config=None, evaluate_config=None,
              evaluate_fn=None):
        """Flower's own loop (Strategy.start) over this wrapper; then every round still buffered is sent."""
        self._rounds[0] = {"updates": [], "dropped": 0, "global": blob_of(initial_arrays)}
        self._num_rounds = num_rounds

        def evaluate_and_keep(server_round, arrays):
            metrics = evaluate_fn(server_round, arrays)
            self._rounds.setdefault(server_round, {})["server_eval"] = metrics_of(metrics)
            return metrics

        result = Strategy.start(
            self, grid, initial_arrays, num_rounds=num_rounds, timeout=timeout, train_config=train_config,
            evaluate_config=evaluate_config, evaluate_fn=evaluate_and_keep if evaluate_fn else None,
        )
        if not self._declared:
            self._declare(initial_arrays)
        self._submit_before(num_rounds + 1)
        if not self._sender.drain(self.flush_seconds):
            self._fail(f"the run ended with {', '.join(self._sender.pending())} not recorded: "
                       f"{self._sender.refused or self._sender.last_problem}")
        self._sender.close()
        return result

    # --- recording ------------------------------------------------------------------------------------------

    def _declare(self, arrays):
        self._declared = True
        if self.experiment is not None:
            return
        layers = layers_of(arrays)
        strategy = type(self.strategy)
        declaration = {
            "name": self.name,
            "key": self.run_key,
            "rounds": self._num_rounds,
            "layers": layers,
            "strategy": {
                "name": strategy.__name__,
                "module": strategy.__module__,
                "flower": FLOWER_VERSION,
                "settings": _settings_of(self.strategy),
            },
        }
        self._queue({"what": "the experiment's declaration", "kind": "experiment", "payload": declaration})

    def _submit_before(self, server_round):
        """Submits every finished round before `server_round`, in order."""
        for number in sorted(n for n in self._rounds if n < server_round):
            entry = self._rounds.pop(number)
            if "global" not in entry:
                self._fail(f"round {number} has no aggregate (the strategy returned none): it is not recorded")
                continue
            self._queue(self._round_item(number, entry))

    def _round_item(self, number, entry):
        server, client = entry.get("server_eval") or {}, entry.get("client_eval") or {}
        loss = server.get(self.keys["loss"], client.get(self.keys["client_loss"]))
        accuracy = server.get(self.keys["accuracy"], client.get(self.keys["client_accuracy"]))
        digest, data = entry["global"]
        files = {digest: data}
        updates = []
        for update in entry["updates"]:
            files[update["update"]] = update["blob"]
            updates.append({key: value for key, value in update.items() if key != "blob"})
        submission = {
            "round": number,
            "global_model": digest,
            "loss": loss if isinstance(loss, (int, float)) and not isinstance(loss, bool) else None,
            "accuracy": accuracy if isinstance(accuracy, (int, float)) and not isinstance(accuracy, bool) else None,
            "updates": updates,
            "dropped": entry.get("dropped", 0),
            "metrics": {"train": entry.get("train_metrics", {}), "evaluate": client, "server": server},
        }
        return {"what": f"round {number}", "kind": "round", "body": upload_encode(submission, files)}

    def _queue(self, item):
        if self._failed and self.on_failure == "warn":
            self._unrecorded(item["what"])
            return
        if self._sender.refused is not None:
            self._fail(f"FedChain refused a submission ({self._sender.refused}); {item['what']} is not recorded")
            self._unrecorded(item["what"])
            return
        if not self._sender.put(item, wait_seconds=self.wait_seconds):
            problem = self._sender.refused or self._sender.last_problem
            self._fail(f"FedChain stayed unreachable for {self.wait_seconds:g} s with the buffer full ({problem}); "
                       f"{item['what']} is not recorded")
            self._unrecorded(item["what"])

    def _unrecorded(self, what):
        self.unrecorded.append(what)
        log.error("FedChain: %s is NOT recorded", what)

    def _fail(self, message):
        self._failed = True
        if self.on_failure == "fail":
            self._sender.close()
            raise RecordingError(message)
        log.error("FedChain: %s", message)

    def _send(self, item):
        if item["kind"] == "experiment":
            answer = post_json(f"{self.url}/api/flower/experiments/", self.token, item["payload"], timeout=self.timeout)
            self.experiment = answer["id"]
            log.info("FedChain records this run as experiment %s", self.experiment)
            return
        post(f"{self.url}/api/flower/experiments/{self.experiment}/rounds/", self.token, body=item["body"],
             content_type=UPLOAD_CONTENT_TYPE, timeout=self.timeout)
