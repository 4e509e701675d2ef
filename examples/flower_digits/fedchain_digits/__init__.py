"""A Flower app whose ServerApp records every round on a FedChain node."""
