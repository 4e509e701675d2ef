"""DP-FedAvg's arithmetic and its accountant, against reference values pinned by other accountants' own tests."""

import math

import numpy as np
import pytest

from apps.federated.privacy import clients_poisson, clip_delta, dp_fedavg, epsilon_spent, rounds_within_budget


def test_epsilon_matches_opacus_rdp_accountant_reference():
    # Opacus' accountants_test.py, test_rdp_accountant: sigma 1.5, q 0.04, 90 epochs of 1/q steps, delta 1e-5 ->
    # 7.32911117143 with its RDP accountant (the same orders and conversion); dp-accounting's series for log(A)
    # differs from Opacus' in the fifth digit.
    epsilon = epsilon_spent(sampling_rate=0.04, noise_multiplier=1.5, delta=1e-5, rounds=int(90 / 0.04))
    assert epsilon == pytest.approx(7.32911117143, rel=1e-4)


def test_epsilon_matches_dp_accounting_reference_gaussian():
    # dp-accounting's rdp_privacy_accountant_test.py, test_compute_epsilon_delta_gaussian: without sampling,
    # sigma 4.530877117 gives exactly (1, 1e-6)-DP (the analytic Gaussian mechanism); RDP over the default
    # orders gives that to within its order grid.
    epsilon = epsilon_spent(sampling_rate=1.0, noise_multiplier=4.530877117, delta=1e-6, rounds=1)
    assert epsilon == pytest.approx(1.0, abs=1e-5)


def test_pld_epsilon_matches_dp_accounting_reference_subsampled_gaussian():
    # dp-accounting's pld_privacy_accountant_test.py (google/differential-privacy,
    # python/dp_accounting/dp_accounting/pld/), test_poisson_subsampled_gaussian and
    # test_self_composed_subsampled_gaussian: q 0.2, sigma 0.5, 3 rounds is (1, 0.15594)-DP, to 1e-3 there too.
    epsilon = epsilon_spent(sampling_rate=0.2, noise_multiplier=0.5, delta=0.15594, rounds=3, accountant="pld")
    assert epsilon == pytest.approx(1.0, abs=1e-3)


def test_pld_epsilon_matches_dp_accounting_reference_gaussian():
    # The same file, test_gaussian_basic: sigma sqrt(3) three times is (1, 0.126936)-DP (three Gaussians compose
    # exactly to one of sigma 1); here as q = 1 rounds, composed numerically.
    epsilon = epsilon_spent(sampling_rate=1.0, noise_multiplier=math.sqrt(3), delta=0.126936, rounds=3, accountant="pld")
    assert epsilon == pytest.approx(1.0, abs=1e-3)


def test_pld_epsilon_matches_opacus_prv_accountant_reference():
    # Opacus' accountants_test.py (pytorch/opacus, opacus/tests/), test_prv_accountant: sigma 1.5, q 0.04,
    # int(90 // 0.04) steps, delta 1e-5 -> 6.777395712150674 with its PRV accountant, whose default error bound
    # on epsilon is 0.01: another numerical composition of the same privacy loss, the tight value RDP's 7.33
    # over-counts.
    epsilon = epsilon_spent(sampling_rate=0.04, noise_multiplier=1.5, delta=1e-5, rounds=int(90 // 0.04), accountant="pld")
    assert epsilon == pytest.approx(6.777395712150674, abs=0.01)
    assert epsilon < epsilon_spent(sampling_rate=0.04, noise_multiplier=1.5, delta=1e-5, rounds=int(90 // 0.04)) - 0.5


def test_pld_budget_uses_the_pld_accountant():
    settings = {"sampling_rate": 0.2, "noise_multiplier": 1.0, "delta": 1e-5}
    # 30 rounds: RDP 8.94, PLD 7.93. A budget of 8.5 runs them all under PLD, not under RDP.
    assert rounds_within_budget(**settings, max_epsilon=8.5, rounds=30, accountant="pld") == 30
    allowed = rounds_within_budget(**settings, max_epsilon=8.5, rounds=30)
    assert allowed < 30 and epsilon_spent(**settings, rounds=allowed) <= 8.5


def test_an_unknown_accountant_is_refused():
    with pytest.raises(ValueError, match="the accountants are rdp, pld"):
        epsilon_spent(sampling_rate=0.5, noise_multiplier=1.0, delta=1e-5, rounds=2, accountant="moments")


def test_unsampled_rounds_match_the_gaussian_rdp_formula():
    # Without sampling, T rounds are RDP with eps(alpha) = T * alpha / (2 sigma^2) (Mironov 2017, Prop. 7), and
    # (eps, delta)-DP follows from the conversion of Canonne, Kamath and Steinke 2020 (Prop. 12) at the best
    # order. Computed here by hand on the accountant's own order grid.
    from dp_accounting.rdp.rdp_privacy_accountant import RdpAccountant

    sigma, rounds, delta = 1.0, 30, 1e-5
    best = min(
        rounds * alpha / (2 * sigma**2) + math.log1p(-1 / alpha) - (math.log(delta) + math.log(alpha)) / (alpha - 1)
        for alpha in RdpAccountant()._orders
    )
    assert epsilon_spent(sampling_rate=1.0, noise_multiplier=sigma, delta=delta, rounds=rounds) == pytest.approx(
        best, rel=1e-9
    )


def test_epsilon_grows_with_rounds_and_shrinks_with_sampling_and_noise():
    spent = lambda **k: epsilon_spent(**{"sampling_rate": 0.5, "noise_multiplier": 1.0, "delta": 1e-5, "rounds": 10, **k})
    assert spent(rounds=0) == 0.0
    assert spent(rounds=1) < spent(rounds=10) < spent(rounds=30)
    assert spent(sampling_rate=0.1) < spent() < spent(sampling_rate=1.0)
    assert spent(noise_multiplier=2.0) < spent()


def test_rounds_within_budget_stops_before_the_budget_is_exceeded():
    settings = {"sampling_rate": 1.0, "noise_multiplier": 1.0, "delta": 1e-5}
    budget = 20.0
    allowed = rounds_within_budget(**settings, max_epsilon=budget, rounds=30)
    assert 0 < allowed < 30
    assert epsilon_spent(**settings, rounds=allowed) <= budget < epsilon_spent(**settings, rounds=allowed + 1)
    assert rounds_within_budget(**settings, max_epsilon=1e9, rounds=30) == 30
    assert rounds_within_budget(**settings, max_epsilon=1e-3, rounds=30) == 0


def test_clip_scales_long_deltas_down_to_the_clip_norm():
    short, clipped = clip_delta(np.array([0.3, 0.4]), 1.0)
    assert short.tolist() == [0.3, 0.4] and not clipped
    long, clipped = clip_delta(np.array([3.0, 4.0]), 1.0)
    assert np.allclose(long, [0.6, 0.8]) and clipped


def test_dp_fedavg_is_the_noisy_clipped_sum_over_the_expected_count():
    previous = np.ones(3)
    updates = [previous + np.array([3.0, 4.0, 0.0]), previous + np.array([0.0, 0.1, 0.0])]
    params, clipped = dp_fedavg(previous, updates, clip=1.0, noise_multiplier=0.0, expected_clients=4,
                                rng=np.random.default_rng(0))
    assert clipped == [True, False]
    assert np.allclose(params, previous + (np.array([0.6, 0.8, 0.0]) + np.array([0.0, 0.1, 0.0])) / 4)


def test_dp_fedavg_noise_is_seeded_with_the_calibrated_scale():
    previous = np.zeros(50_000)
    run = lambda seed: dp_fedavg(previous, [], clip=2.0, noise_multiplier=1.5, expected_clients=10,
                                 rng=np.random.default_rng(seed))[0]
    first = run(3)
    assert first.tobytes() == run(3).tobytes() and first.tobytes() != run(4).tobytes()
    assert first.std() == pytest.approx(1.5 * 2.0 / 10, rel=0.02)


def test_one_client_moves_the_noiseless_release_by_at_most_clip_over_the_expected_count():
    rng = np.random.default_rng(0)
    previous = rng.normal(size=20)
    others = [previous + rng.normal(size=20) for _ in range(5)]
    outlier = previous + 100 * rng.normal(size=20)
    release = lambda updates: dp_fedavg(previous, updates, clip=0.5, noise_multiplier=0.0, expected_clients=5,
                                        rng=np.random.default_rng(1))[0]
    assert np.linalg.norm(release(others + [outlier]) - release(others)) <= 0.5 / 5 + 1e-12


def test_poisson_sampling_is_independent_per_client():
    counts = [len(clients_poisson(100, 0.3, np.random.default_rng(seed))) for seed in range(200)]
    assert abs(np.mean(counts) - 30) < 1.0 and min(counts) < 30 < max(counts)
    assert clients_poisson(7, 1.0, np.random.default_rng(0)).tolist() == list(range(7))
