"""The ServerApp: Flower's own strategy, wrapped by FedChain's ChainRecorder when a FedChain URL is configured.

Recording changes nothing in the training: with or without it, the same seed gives the same final parameters.
"""

import json
import random

from flwr.app import Array, ArrayRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg, FedMedian, Krum

from fedchain_digits.task import evaluate, initial_params, load_test

STRATEGIES = {"fedavg": FedAvg, "fedmedian": FedMedian, "krum": Krum}

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    config = context.run_config
    seed = int(config["seed"])
    random.seed(seed)  # Flower samples nodes with the random module
    x_test, y_test = load_test(seed)

    def evaluate_global(server_round, arrays):
        loss, accuracy = evaluate(arrays.to_numpy_ndarrays(), x_test, y_test)
        return MetricRecord({"loss": loss, "accuracy": accuracy})

    strategy = STRATEGIES[str(config["strategy"])](
        fraction_evaluate=0.0, min_train_nodes=3, min_available_nodes=3
    )
    if config["fedchain-url"]:
        from fedchain_flower import ChainRecorder

        strategy = ChainRecorder(
            strategy, url=str(config["fedchain-url"]), token=str(config["fedchain-token"]),
            name=str(config["fedchain-name"]),
        )
    weights, bias = initial_params(seed)
    result = strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord({"weights": Array(weights), "bias": Array(bias)}),
        num_rounds=int(config["num-server-rounds"]),
        evaluate_fn=evaluate_global,
    )
    if config["output-file"]:
        final = {key: array.numpy().tolist() for key, array in result.arrays.items()}
        with open(str(config["output-file"]), "w") as out:
            json.dump(final, out)
