"""Kura's k rule at every size: ceil(n / clusters_per_group), capped at ``max_clusters``."""

import math

import numpy as np
import pytest

from kura.errors import ConfigError
from kura.runner.params import fingerprint
from kura.stages.cluster import KMeansClusterer, base_cluster_count

SIZES = sorted({int(round(10**e)) for e in np.arange(1, 7.01, 0.05)} | {49_999, 50_000, 50_001, 10_000_000})


def test_kuras_rule_holds_below_the_cap():
    assert [base_cluster_count(n) for n in (1, 9, 10, 11, 30, 31, 3_000, 22_500)] == [1, 1, 1, 2, 3, 4, 300, 2_250]
    assert base_cluster_count(49_991) == 5_000 and base_cluster_count(49_990) == 4_999


@pytest.mark.parametrize("per, cap", [(10, 5_000), (5, 2_000), (25, 300), (1, 7), (10, None)])
def test_k_is_monotone_bounded_and_reaches_the_cap(per, cap):
    ks = [base_cluster_count(n, per, cap) for n in SIZES]
    assert all(a <= b for a, b in zip(ks, ks[1:]))  # more conversations never mean fewer clusters
    for n, k in zip(SIZES, ks):
        assert 1 <= k <= n
        assert k == min(math.ceil(n / per), cap if cap is not None else n)
        assert (k - 1) * per < n  # never a cluster more than n / clusters_per_group asks for
        if cap is not None:
            assert k <= cap
    if cap is not None:
        assert ks[-1] == cap  # at 10^7 the cap holds
    else:
        assert ks[-1] == 1_000_000  # Kura 0.5's rule, uncapped


def test_a_million_conversations_make_thousands_of_clusters_not_a_hundred_thousand():
    assert KMeansClusterer().k_for(1_000_000) == 5_000
    assert KMeansClusterer(max_clusters=None).k_for(1_000_000) == 100_000  # Kura 0.5
    assert KMeansClusterer(n_clusters=12).k_for(1_000_000) == 12  # a fixed k ignores the cap
    assert KMeansClusterer(n_clusters=12).k_for(5) == 5


def test_the_cap_is_a_setting_so_the_fingerprint_follows_it():
    assert fingerprint(KMeansClusterer()) != fingerprint(KMeansClusterer(max_clusters=2_000))
    assert fingerprint(KMeansClusterer()) == fingerprint(KMeansClusterer(max_clusters=5_000))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_clusters": 0}, "max_clusters=0 should be >= 1"),
        ({"clusters_per_group": 0}, "clusters_per_group=0 should be >= 1"),
        ({"n_clusters": 0}, "n_clusters=0 should be >= 1"),
    ],
)
def test_bad_settings_fail_with_the_setting_named(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        KMeansClusterer(**kwargs).fit_predict(np.eye(4))


def test_above_the_cap_clusters_come_from_a_sample_and_every_row_is_assigned():
    # 6 well-separated blobs, capped at 6 clusters, sample of 60 out of 600 rows.
    rng = np.random.default_rng(0)
    centres = np.eye(6) * 10
    truth = np.repeat(np.arange(6), 100)
    x = (centres[truth] + rng.normal(size=(600, 6))).astype(np.float32)
    labels = KMeansClusterer(1, max_clusters=6, sample_above=60).fit_predict(x)
    assert len(labels) == 600 and len(set(labels.tolist())) == 6
    assert all(len(set(labels[truth == t].tolist())) == 1 for t in range(6))
