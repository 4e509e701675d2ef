from statistics import NormalDist

import numpy as np
import pytest

from apps.federated.attacks import (
    alie_update,
    alie_z,
    detection_rates,
    labels_flip,
    malicious_clients,
    malicious_count,
    update_attack,
)


def test_malicious_count_from_a_count_or_a_fraction():
    assert malicious_count(20, malicious=4) == 4
    assert malicious_count(20, fraction=0.15) == 3
    assert malicious_count(20, fraction=0.2) == 4
    assert malicious_count(10, fraction=0.25) == 3  # rounds half up
    assert malicious_count(20) == 0


def test_malicious_set_is_seeded_and_distinct():
    first = malicious_clients(20, 4, np.random.default_rng([7, 5]))
    again = malicious_clients(20, 4, np.random.default_rng([7, 5]))
    other = malicious_clients(20, 4, np.random.default_rng([8, 5]))
    assert first.tolist() == again.tolist() and first.tolist() != other.tolist()
    assert len(set(first.tolist())) == 4 and first.tolist() == sorted(first.tolist())
    assert malicious_clients(20, 0, np.random.default_rng(0)).tolist() == []


def test_label_flip_maps_c_to_classes_minus_one_minus_c():
    assert labels_flip(np.array([0, 1, 9, 4]), 10).tolist() == [9, 8, 0, 5]


def test_update_attacks():
    previous, trained = np.array([1.0, 1.0]), np.array([1.5, 0.0])
    rng = np.random.default_rng(0)
    assert update_attack("sign_flip", previous=previous, trained=trained, scale=4, rng=rng).tolist() == [-1.0, 5.0]
    assert update_attack("scaling", previous=previous, trained=trained, scale=10, rng=rng).tolist() == [6.0, -9.0]
    assert update_attack("label_flip", previous=previous, trained=trained, scale=10, rng=rng) is trained
    noise = update_attack("noise", previous=np.zeros(20000), trained=np.zeros(20000), scale=3.0,
                          rng=np.random.default_rng(1))
    assert abs(noise.std() - 3.0) < 0.05 and abs(noise.mean()) < 0.05
    with pytest.raises(ValueError):
        update_attack("alie", previous=previous, trained=trained, scale=1, rng=rng)


def test_alie_z_follows_baruch_et_al():
    # n = 50, f = 24 (the paper's example): s = 26 - 24 = 2, z = Phi^-1(48 / 50) ~ 1.75
    assert alie_z(50, 24) == pytest.approx(NormalDist().inv_cdf(48 / 50)) == pytest.approx(1.7507, abs=1e-4)
    # 20 clients, 4 colluders: s = 11 - 4 = 7, z = Phi^-1(13 / 20)
    assert alie_z(20, 4) == pytest.approx(0.38532, abs=1e-5)


def test_alie_update_is_mean_minus_z_std_per_coordinate():
    honest = [np.array([0.0, 10.0]), np.array([2.0, 10.0]), np.array([4.0, 10.0])]
    z = alie_z(3, 1)
    assert np.allclose(alie_update(honest, 1), [2.0 - z * np.std([0.0, 2.0, 4.0]), 10.0])


def test_detection_rates():
    assert detection_rates([True, True, False, False, False], [True, False, True, False, False]) == (0.5, 1 / 3)
    assert detection_rates([False, False], [False, True]) == (None, 0.5)
    assert detection_rates([True], [True]) == (1.0, None)
    with pytest.raises(ValueError):
        detection_rates([True], [])
