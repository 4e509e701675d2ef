"""Splitting a training set among clients: IID, Dirichlet label skew, k-class shards and quantity skew.

Each scheme returns one sorted index array per client; every client gets at least one sample and every sample
goes to exactly one client.
"""

import numpy as np

PARTITIONS = ("iid", "dirichlet", "shards", "quantity")


def partition_iid(labels, n_clients, rng):
    """Shuffled samples dealt out in near-equal parts."""
    _check_sizes(labels, n_clients)
    return _sorted_parts(np.array_split(rng.permutation(len(labels)), n_clients))


def partition_dirichlet(labels, n_clients, alpha, rng):
    """Label skew: each class's samples split among clients in proportions drawn from Dirichlet(alpha).

    Small alpha gives each client few classes; large alpha tends to IID.
    """
    _check_sizes(labels, n_clients)
    if not alpha > 0:
        raise ValueError("alpha must be positive")
    parts = [[] for _ in range(n_clients)]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        proportions = rng.dirichlet(np.full(n_clients, alpha))
        cuts = (np.cumsum(proportions)[:-1] * len(members)).astype(np.int64)
        for client, chunk in enumerate(np.split(members, cuts)):
            parts[client].append(chunk)
    return _fill_empty(_sorted_parts([np.concatenate(p) for p in parts]), rng)


def partition_shards(labels, n_clients, classes_per_client, rng):
    """Pathological non-IID: each client holds samples of exactly `classes_per_client` classes (at least that
    many when clients x classes_per_client < classes, since every class must be held by someone).

    Classes are dealt round-robin from a shuffled order; each class's samples are shared equally among the
    clients that hold it.
    """
    _check_sizes(labels, n_clients)
    classes = np.unique(labels)
    if not 1 <= classes_per_client <= len(classes):
        raise ValueError(f"classes per client must be between 1 and {len(classes)}")
    order = rng.permutation(classes)
    holders = {label: [] for label in classes}
    dealt = n_clients * classes_per_client
    for slot in range(max(dealt, len(classes))):
        # With fewer slots than classes, the classes left over are dealt out too: no sample is dropped.
        client = slot // classes_per_client if slot < dealt else slot % n_clients
        holders[order[slot % len(order)]].append(client)
    parts = [[] for _ in range(n_clients)]
    for label, clients in holders.items():
        if not clients:
            continue
        members = rng.permutation(np.flatnonzero(labels == label))
        for client, chunk in zip(clients, np.array_split(members, len(clients))):
            parts[client].append(chunk)
    return _fill_empty(_sorted_parts([np.concatenate(p) for p in parts]), rng)


def partition_quantity(labels, n_clients, alpha, rng):
    """Quantity skew: IID samples, but client sizes drawn from Dirichlet(alpha) proportions."""
    _check_sizes(labels, n_clients)
    if not alpha > 0:
        raise ValueError("alpha must be positive")
    spare = len(labels) - n_clients
    sizes = 1 + rng.multinomial(spare, rng.dirichlet(np.full(n_clients, alpha)))
    cuts = np.cumsum(sizes)[:-1]
    return _sorted_parts(np.split(rng.permutation(len(labels)), cuts))


def partition(labels, *, scheme, n_clients, rng, alpha=0.5, classes_per_client=2):
    if scheme == "iid":
        return partition_iid(labels, n_clients, rng)
    if scheme == "dirichlet":
        return partition_dirichlet(labels, n_clients, alpha, rng)
    if scheme == "shards":
        return partition_shards(labels, n_clients, classes_per_client, rng)
    if scheme == "quantity":
        return partition_quantity(labels, n_clients, alpha, rng)
    raise ValueError(f"unknown partition {scheme!r}: choose one of {', '.join(PARTITIONS)}")


def label_counts(labels, parts, n_classes):
    """A (clients x classes) matrix: how many samples of each class each client holds."""
    return np.stack([np.bincount(labels[part], minlength=n_classes) for part in parts])


def _check_sizes(labels, n_clients):
    if n_clients < 1:
        raise ValueError("there must be at least one client")
    if n_clients > len(labels):
        raise ValueError(f"{n_clients} clients cannot each get a sample of a training set of {len(labels)}")


def _sorted_parts(parts):
    return [np.sort(part).astype(np.int64) for part in parts]


def _fill_empty(parts, rng):
    """Gives each empty client one sample taken from the currently largest client."""
    for client, part in enumerate(parts):
        if len(part) == 0:
            donor = max(range(len(parts)), key=lambda c: (len(parts[c]), -c))
            taken = rng.integers(len(parts[donor]))
            parts[client] = parts[donor][taken : taken + 1].copy()
            parts[donor] = np.delete(parts[donor], taken)
    return parts
