"""Softmax regression and multi-layer perceptrons in numpy, with hand-written gradients.

A model's parameters are ONE flat float64 vector: layer by layer, each weight matrix (inputs x outputs, row-major)
then its bias. Aggregators, serialization and hashing work on that vector; `ModelSpec.layers` gives views into
it. Softmax regression is the MLP without hidden layers.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np

MODELS = ("softmax", "mlp")


@dataclass(frozen=True)
class ModelSpec:
    n_features: int
    n_classes: int
    hidden: tuple[int, ...] = ()

    def __post_init__(self):
        if self.n_features < 1 or self.n_classes < 2:
            raise ValueError("a model needs at least one feature and two classes")
        if any(width < 1 for width in self.hidden):
            raise ValueError("hidden layers need at least one unit")

    @property
    def kind(self):
        return "mlp" if self.hidden else "softmax"

    @cached_property
    def shapes(self):
        """Shapes of the parameter arrays in their fixed order: W1, b1, W2, b2, ..."""
        widths = (self.n_features, *self.hidden, self.n_classes)
        shapes = []
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            shapes += [(fan_in, fan_out), (fan_out,)]
        return tuple(shapes)

    @cached_property
    def _offsets(self):
        sizes = [int(np.prod(shape)) for shape in self.shapes]
        return tuple(np.concatenate([[0], np.cumsum(sizes)]).tolist())

    @property
    def size(self):
        return self._offsets[-1]

    def layers(self, flat):
        """[(W, b), ...] as views into the flat vector (writing to them writes the vector)."""
        arrays = [
            flat[start:end].reshape(shape)
            for start, end, shape in zip(self._offsets[:-1], self._offsets[1:], self.shapes)
        ]
        return list(zip(arrays[0::2], arrays[1::2]))


def spec_from_shapes(shapes):
    """The spec whose parameters have these shapes (as parsed from a blob), or ValueError."""
    shapes = [tuple(shape) for shape in shapes]
    if not shapes or len(shapes) % 2 or any(len(w) != 2 or b != (w[1],) for w, b in zip(shapes[0::2], shapes[1::2])):
        raise ValueError("shapes are not W, b pairs of a layered model")
    if any(w[0] != prev[1] for prev, w in zip(shapes[0::2], shapes[2::2])):
        raise ValueError("consecutive layers do not connect")
    return ModelSpec(shapes[0][0], shapes[-1][0], tuple(w[1] for w in shapes[0::2][:-1]))


def init_params(spec, rng):
    """He-initialized weights (scaled down for the output layer) and zero biases."""
    flat = np.zeros(spec.size)
    for index, (weights, _) in enumerate(spec.layers(flat)):
        scale = np.sqrt(2.0 / weights.shape[0])
        if index == len(spec.hidden):
            scale *= 0.1
        weights[...] = rng.normal(0.0, scale, size=weights.shape)
    return flat


def logits(spec, flat, x):
    activation = x
    layers = spec.layers(flat)
    for weights, bias in layers[:-1]:
        activation = np.maximum(activation @ weights + bias, 0.0)
    weights, bias = layers[-1]
    return activation @ weights + bias


def cross_entropy(scores, y):
    """Mean cross-entropy of integer labels y under softmax(scores), computed stably."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_norm - shifted[np.arange(len(y)), y]))


class Backprop:
    """Loss and gradient of one model's parameters, computed into a gradient buffer it owns.

    The parameter and gradient views are built once, so a training loop that updates the parameters in place
    pays no per-step setup (the loop runs thousands of small steps).
    """

    def __init__(self, spec, flat):
        self.layers = spec.layers(flat)
        self.grad = np.empty_like(flat)
        self.grad_layers = spec.layers(self.grad)

    def __call__(self, x, y):
        """Mean cross-entropy over the batch; the gradient with respect to the flat parameters is left in
        self.grad."""
        layers = self.layers
        activations = [x]
        for weights, bias in layers[:-1]:
            activations.append(np.maximum(activations[-1] @ weights + bias, 0.0))
        weights, bias = layers[-1]
        scores = activations[-1] @ weights + bias

        shifted = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sums = exp.sum(axis=1, keepdims=True)
        rows = np.arange(len(y))
        loss = float(np.mean(np.log(sums[:, 0]) - shifted[rows, y]))

        delta = exp / sums
        delta[rows, y] -= 1.0
        delta /= len(y)
        for index in range(len(layers) - 1, -1, -1):
            grad_weights, grad_bias = self.grad_layers[index]
            np.matmul(activations[index].T, delta, out=grad_weights)
            delta.sum(axis=0, out=grad_bias)
            if index:
                delta = (delta @ layers[index][0].T) * (activations[index] > 0)
        return loss


def loss_and_grad(spec, flat, x, y):
    """Mean cross-entropy over the batch and its gradient with respect to the flat parameters."""
    backprop = Backprop(spec, flat)
    loss = backprop(x, y)
    return loss, backprop.grad


def evaluate(spec, flat, x, y):
    """(mean cross-entropy, accuracy) of the model on a labelled set."""
    scores = logits(spec, flat, x)
    return cross_entropy(scores, y), float(np.mean(scores.argmax(axis=1) == y))
