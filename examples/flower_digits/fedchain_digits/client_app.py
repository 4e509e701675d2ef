"""The ClientApp: trains on this SuperNode's own shard; only parameters, counts and metrics leave it."""

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fedchain_digits.task import evaluate, load_shard, train

app = ClientApp()


def _shard(context):
    return load_shard(
        int(context.node_config["partition-id"]),
        int(context.node_config["num-partitions"]),
        int(context.run_config["seed"]),
    )


@app.train()
def client_train(msg: Message, context: Context) -> Message:
    x, y = _shard(context)
    server_round = int(msg.content["config"]["server-round"])
    partition = int(context.node_config["partition-id"])
    # Seeded by (seed, round, shard): the same run trains the same way wherever and whenever it runs.
    rng = np.random.default_rng([int(context.run_config["seed"]), server_round, partition])
    params, loss = train(
        msg.content["arrays"].to_numpy_ndarrays(),
        x,
        y,
        epochs=int(context.run_config["local-epochs"]),
        batch_size=int(context.run_config["batch-size"]),
        lr=float(context.run_config["learning-rate"]),
        rng=rng,
    )
    content = RecordDict(
        {
            "arrays": ArrayRecord({"weights": Array(params[0]), "bias": Array(params[1])}),
            "metrics": MetricRecord({"train_loss": loss, "num-examples": len(y)}),
        }
    )
    return Message(content=content, reply_to=msg)


@app.evaluate()
def client_evaluate(msg: Message, context: Context) -> Message:
    x, y = _shard(context)
    loss, accuracy = evaluate(msg.content["arrays"].to_numpy_ndarrays(), x, y)
    content = RecordDict({"metrics": MetricRecord({"eval_loss": loss, "eval_acc": accuracy, "num-examples": len(y)})})
    return Message(content=content, reply_to=msg)
