"""Record a Flower federation on a FedChain node: wrap the ServerApp's strategy in ChainRecorder.

    strategy = ChainRecorder(FedAvg(...), url="http://fedchain.example:8000", token=os.environ["FEDCHAIN_TOKEN"])

Only what Flower already sends the server reaches FedChain: each client's parameters, sample count and metrics,
and the aggregate. The wrapped strategy aggregates exactly as it would unwrapped.
"""

from .recorder import ChainRecorder, RecordingError
from .wire import FLOWER_VERSION

__all__ = ["FLOWER_VERSION", "ChainRecorder", "RecordingError"]
