"""Property tests of the aggregators: whatever clients send (NaN, infinities, huge values, wrong shapes, wrong
types), every update is judged, accepted or rejected with a reason, and the result has the model's size; the
only refusal is Bulyan's AggregationError when too few updates are usable."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.federated.aggregation import AGGREGATORS, AggregationError, aggregate

SIZE = 5
values = st.floats(allow_nan=True, allow_infinity=True, width=64) | st.sampled_from([1e308, -1e308, 5e-324])
updates = st.one_of(
    st.lists(values, min_size=SIZE, max_size=SIZE).map(np.array),
    st.lists(values, max_size=SIZE + 3).map(np.array),  # wrong shapes
    st.lists(st.integers(-5, 5), min_size=SIZE, max_size=SIZE).map(np.array),  # wrong type
    st.just(np.zeros((SIZE, 1))),
    st.just(np.array([])),
    st.just(None),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(AGGREGATORS), st.lists(updates, max_size=9), st.data())
def test_every_update_is_judged_and_the_result_has_the_models_size(name, sent, data):
    weights = data.draw(st.lists(st.integers(1, 10**6), min_size=len(sent), max_size=len(sent)))
    previous = np.zeros(SIZE)
    sent = [np.zeros(0) if update is None else update for update in sent]
    try:
        with np.errstate(all="ignore"):
            result = aggregate(name, updates=sent, weights=weights, previous=previous, trim_ratio=0.2, byzantine=1,
                               krum_select=2)
    except AggregationError as error:
        assert name == "bulyan" and "bulyan" in str(error).lower()
        return
    assert result.params.shape == (SIZE,)
    assert sorted([*result.accepted, *result.rejected]) == list(range(len(sent)))
    for index, update in enumerate(sent):
        usable = update.shape == (SIZE,) and update.dtype.kind == "f" and np.isfinite(update).all()
        if not usable:
            assert index in result.rejected and result.rejected[index]
    for index in result.accepted:
        assert np.isfinite(sent[index]).all()
    if not result.accepted:
        assert (result.params == previous).all()


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([name for name in AGGREGATORS if name != "bulyan"]), st.lists(st.lists(st.floats(-1e300, 1e300), min_size=SIZE, max_size=SIZE),
                                              min_size=1, max_size=8))
def test_finite_updates_within_range_give_a_finite_model(name, sent):
    arrays = [np.array(update) for update in sent]
    with np.errstate(all="ignore"):
        result = aggregate(name, updates=arrays, weights=[1] * len(arrays), previous=np.zeros(SIZE), trim_ratio=0.2)
    assert result.accepted
    assert np.isfinite(result.params).all()
