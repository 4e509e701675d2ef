import numpy as np
import pytest

from apps.federated.nn import ModelSpec, cross_entropy, evaluate, init_params, logits, loss_and_grad, spec_from_shapes


def numerical_grad(spec, flat, x, y, eps=1e-6):
    grad = np.empty_like(flat)
    for i in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (loss_and_grad(spec, up, x, y)[0] - loss_and_grad(spec, down, x, y)[0]) / (2 * eps)
    return grad


@pytest.mark.parametrize("hidden", [(), (7,), (6, 5)], ids=["softmax", "mlp-1", "mlp-2"])
def test_hand_written_gradients_match_numerical_gradients(hidden):
    rng = np.random.default_rng(0)
    spec = ModelSpec(n_features=4, n_classes=3, hidden=hidden)
    flat = rng.normal(0, 0.5, size=spec.size)
    x = rng.normal(size=(9, 4))
    y = rng.integers(0, 3, size=9)
    loss, grad = loss_and_grad(spec, flat, x, y)
    assert loss == pytest.approx(cross_entropy(logits(spec, flat, x), y))
    expected = numerical_grad(spec, flat, x, y)
    assert np.max(np.abs(grad - expected)) < 1e-6 * max(1.0, np.max(np.abs(expected)))


def test_parameter_layout_is_weights_then_bias_per_layer():
    spec = ModelSpec(n_features=3, n_classes=2, hidden=(4,))
    assert spec.shapes == ((3, 4), (4,), (4, 2), (2,))
    assert spec.size == 12 + 4 + 8 + 2
    flat = np.arange(spec.size, dtype=float)
    (w1, b1), (w2, b2) = spec.layers(flat)
    assert w1[0, 0] == 0 and b1[0] == 12 and w2[0, 0] == 16 and b2[-1] == spec.size - 1
    w1[0, 0] = -1.0
    assert flat[0] == -1.0  # views, not copies
    assert spec_from_shapes(spec.shapes) == spec
    assert spec.kind == "mlp" and ModelSpec(3, 2).kind == "softmax"


@pytest.mark.parametrize(
    "shapes", [[(3, 4)], [(3, 4), (5,)], [(3, 4), (4,), (5, 2), (2,)], [(3, 4, 1), (4,)]]
)
def test_shapes_that_are_not_a_layered_model_are_refused(shapes):
    with pytest.raises(ValueError):
        spec_from_shapes(shapes)


def test_cross_entropy_is_stable_for_huge_scores():
    scores = np.array([[1000.0, 0.0, -1000.0], [0.0, 1e6, 0.0]])
    assert cross_entropy(scores, np.array([0, 1])) == pytest.approx(0.0, abs=1e-12)
    assert cross_entropy(scores, np.array([2, 0])) == pytest.approx((2000 + 1e6) / 2)
    assert cross_entropy(np.zeros((4, 5)), np.array([0, 1, 2, 3])) == pytest.approx(np.log(5))


def test_initialization_is_seeded_and_evaluate_reports_loss_and_accuracy():
    spec = ModelSpec(n_features=5, n_classes=3, hidden=(8,))
    first = init_params(spec, np.random.default_rng(3))
    assert np.array_equal(first, init_params(spec, np.random.default_rng(3)))
    assert not np.array_equal(first, init_params(spec, np.random.default_rng(4)))
    assert np.all(spec.layers(first)[0][1] == 0)  # biases start at zero
    x = np.random.default_rng(0).normal(size=(20, 5))
    y = logits(spec, first, x).argmax(axis=1)
    loss, accuracy = evaluate(spec, first, x, y)
    assert accuracy == 1.0 and loss > 0
    loss, accuracy = evaluate(spec, first, x, (y + 1) % 3)
    assert accuracy == 0.0
