"""What ChainRecorder sends a FedChain node, and how: plain HTTP with the standard library.

An external experiment is declared once (POST /api/flower/experiments/: its name, the model's layers, the strategy
and its settings); each round is then one POST to /api/flower/experiments/<id>/rounds/ of the round's JSON and its
parameter blobs, framed as apps.federated.flower.upload_encode says (no multipart: some web servers parse those in
memory before the application can refuse an oversized one). Blobs are FedChain's own parameter
format (apps/federated/blobs.py): the arrays in the ArrayRecord's key order as little-endian float64, which holds
float32 and float16 values exactly, so the server can recompute Flower's arithmetic in the declared dtype.
"""

import hashlib
import json
import math
import urllib.error
import urllib.request

import numpy as np

from apps.federated.blobs import params_serialize

FLOWER_VERSION = "1.42.0"
DTYPES = ("float64", "float32", "float16")


class RefusedError(Exception):
    """FedChain answered and refused the request (4xx): retrying the same request cannot help."""


class UnreachableError(Exception):
    """FedChain could not be reached or did not answer in time, or answered 5xx: worth retrying."""


def layers_of(arrays):
    """The layer declaration (name, shape, dtype of each array, in order) of a Flower ArrayRecord."""
    layers = []
    for name, array in arrays.items():
        dtype = str(array.dtype)
        if dtype not in DTYPES:
            raise ValueError(f"layer {name!r} is {dtype}: FedChain records floating-point parameters ({', '.join(DTYPES)})")
        layers.append({"name": name, "shape": [int(d) for d in array.shape], "dtype": dtype})
    return layers


def blob_of(arrays):
    """(SHA-256 hex, bytes) of an ArrayRecord as a FedChain parameter blob."""
    ndarrays = arrays.to_numpy_ndarrays()
    flat = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in ndarrays]) if ndarrays else np.zeros(0)
    data = params_serialize([a.shape for a in ndarrays], flat)
    return hashlib.sha256(data).hexdigest(), data


def metrics_of(record):
    """A Flower MetricRecord as JSON: non-finite values (a diverged loss) become null, as JSON cannot hold them."""
    if record is None:
        return {}

    def clean(value):
        if isinstance(value, (list, tuple)):
            return [clean(item) for item in value]
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return int(value)
        value = float(value)
        return value if math.isfinite(value) else None

    return {str(key): clean(value) for key, value in record.items()}


def post(url, token, *, body, content_type, timeout):
    """The JSON answer of a POST; RefusedError on 4xx, UnreachableError when it is worth trying again."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type, "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        detail = _error_detail(error)
        if 400 <= error.code < 500 and error.code not in (408, 429):
            raise RefusedError(f"FedChain refused {url}: HTTP {error.code}: {detail}") from None
        raise UnreachableError(f"FedChain answered {url} with HTTP {error.code}: {detail}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise UnreachableError(f"FedChain is unreachable at {url}: {error}") from None


def post_json(url, token, payload, *, timeout):
    return post(url, token, body=json.dumps(payload).encode(), content_type="application/json", timeout=timeout)


def _error_detail(error):
    try:
        body = json.loads(error.read(4096) or b"{}")
    except (ValueError, OSError):
        return str(error.reason)
    return str(body.get("detail") or body.get("error") or error.reason) if isinstance(body, dict) else str(error.reason)
