"""Statistics against hand-computed values (the arithmetic is in the comments)."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seewhy.evaluation import stats
from seewhy.evaluation.model import ItemRecord
from seewhy.evaluation.stats import StatsError

Z95 = 1.959963984540054  # Φ⁻¹(0.975)


def test_normal_quantile_and_critical_value() -> None:
    assert stats.z_for(0.95) == pytest.approx(Z95, abs=1e-12)
    assert stats.normal_quantile(0.8) == pytest.approx(0.8416212335729143, abs=1e-12)
    assert stats.z_for(0.90) == pytest.approx(1.6448536269514722, abs=1e-12)
    with pytest.raises(StatsError):
        stats.normal_quantile(1.0)
    with pytest.raises(StatsError):
        stats.z_for(0.0)


def test_mean_and_stderr() -> None:
    # [1, 0, 1, 1]: mean 0.75; deviations 0.25, -0.75, 0.25, 0.25;
    # Σdev² = 3·0.0625 + 0.5625 = 0.75; SE = √(0.75 / (4·3)) = √0.0625 = 0.25
    assert stats.mean([1, 0, 1, 1]) == 0.75
    assert stats.stderr([1, 0, 1, 1]) == pytest.approx(0.25, abs=1e-15)
    est = stats.mean_estimate([1, 0, 1, 1])
    # interval 0.75 ± 1.959964·0.25 = [0.260009, 1.239991] (not clipped: plain normal CI)
    assert est.ci_low == pytest.approx(0.75 - Z95 * 0.25)
    assert est.ci_high == pytest.approx(0.75 + Z95 * 0.25)
    assert est.n == 4
    assert math.isnan(stats.stderr([1.0]))
    with pytest.raises(StatsError):
        stats.mean([])
    with pytest.raises(StatsError):
        stats.stderr([0.5, math.nan])


def test_wilson_interval_hand_values() -> None:
    # 8 of 10, z² = 3.841459: centre = 0.8 + 3.841459/20 = 0.992073;
    # half = z·√(0.16/10 + 3.841459/400) = 1.959964·√0.025604 = 0.313618;
    # denominator 1.384146 → [0.678455/1.384146, 1.305691/1.384146] = [0.490163, 0.943318]
    low, high = stats.wilson_interval(8, 10)
    assert low == pytest.approx(0.490163, abs=1e-6)
    assert high == pytest.approx(0.943318, abs=1e-6)
    # 0 of 10: low 0, high = (z²/n)/(1 + z²/n) = 0.384146/1.384146 = 0.277533
    low, high = stats.wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.277533, abs=1e-6)
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(StatsError):
        stats.wilson_interval(11, 10)
    # the proportion estimate: SE = √(p(1−p)/(n−1)) = √(0.16/9) = 0.133333 (= sample SD / √n)
    est = stats.proportion_estimate(8, 10)
    assert est.stderr == pytest.approx(0.4 / 3, abs=1e-12)
    assert est.stderr == pytest.approx(stats.stderr([1] * 8 + [0] * 2), abs=1e-12)
    assert est.method == "wilson"


def test_clustered_stderr_hand_values() -> None:
    # [1, 1, 0, 0] in clusters a, a, b, b: mean 0.5, residuals ±0.5, cluster sums 1 and -1;
    # Σ_c(sum)² = 2; uncorrected var = 2/4² = 0.125 → SE 0.353553;
    # corrected ×C/(C−1) = ×2 → var 0.25 → SE 0.5; iid SE = √(1/(4·3)) = 0.288675
    plain = stats.clustered_mean([1, 1, 0, 0], ["a", "a", "b", "b"], correction=False)
    assert plain.stderr == pytest.approx(math.sqrt(0.125), abs=1e-12)
    corrected = stats.clustered_mean([1, 1, 0, 0], ["a", "a", "b", "b"])
    assert corrected.stderr == pytest.approx(0.5, abs=1e-12)
    assert corrected.iid_stderr == pytest.approx(math.sqrt(1 / 12), abs=1e-12)
    assert corrected.n_clusters == 2
    # design effect (0.5 / 0.288675)² = 3
    assert corrected.design_effect == pytest.approx(3.0)
    # [1, 0, 1, 0] in the same clusters: residuals cancel inside each cluster → SE 0
    assert stats.clustered_mean([1, 0, 1, 0], ["a", "a", "b", "b"]).stderr == 0.0
    # one cluster: the corrected SE cannot be estimated
    assert math.isnan(stats.clustered_mean([1, 0], ["a", "a"]).stderr)
    with pytest.raises(StatsError):
        stats.clustered_mean([1, 0], ["a"])


def test_clustered_with_singleton_clusters_equals_iid() -> None:
    values = [0.1, 0.9, 0.4, 0.4, 1.0, 0.0, 0.7]
    est = stats.clustered_mean(values, list(range(len(values))))
    assert est.stderr == pytest.approx(stats.stderr(values), rel=1e-12)


def test_paired_difference_hand_values() -> None:
    # a = [1,1,0,1,0], b = [1,0,0,1,1]: d = [0,1,0,0,-1], d̄ = 0;
    # Σd² = 2, sample var = 2/4 = 0.5, SE = √(0.5/5) = 0.316228
    # means 0.6 and 0.6; Σ(a−0.6)² = 3·0.16 + 2·0.36 = 1.2 → SE_a = √(1.2/20) = 0.244949 = SE_b
    # unpaired = √2·0.244949 = 0.346410
    # Σ(a−.6)(b−.6) = .16 − .24 + .36 + .16 − .24 = 0.2 → r = 0.2/1.2 = 1/6
    r = stats.paired_difference([1, 1, 0, 1, 0], [1, 0, 0, 1, 1])
    assert r.difference == 0.0
    assert r.stderr == pytest.approx(math.sqrt(0.1), abs=1e-12)
    assert r.unpaired_stderr == pytest.approx(math.sqrt(0.12), abs=1e-12)
    assert r.correlation == pytest.approx(1 / 6, abs=1e-12)
    assert r.mean_a == r.mean_b == pytest.approx(0.6)
    # a = [1,1,1,0], b = [0,1,0,0]: d = [1,0,1,0], d̄ = 0.5, Σdev² = 1, SE = √(1/12) = 0.288675;
    # z = 0.5/0.288675 = 1.732051; p = erfc(1.732051/√2) = 0.083265
    r = stats.paired_difference([1, 1, 1, 0], [0, 1, 0, 0])
    assert r.difference == 0.5
    assert r.z == pytest.approx(math.sqrt(3), abs=1e-12)
    assert r.p_value == pytest.approx(0.083265, abs=1e-6)
    assert r.ci_low == pytest.approx(0.5 - Z95 * math.sqrt(1 / 12))
    # identical scores: no variation in either model → no correlation
    same = stats.paired_difference([1, 1], [1, 1])
    assert same.correlation is None and same.stderr == 0.0 and math.isnan(same.z)
    with pytest.raises(StatsError, match="same items"):
        stats.paired_difference([1, 0], [1])


def test_paired_difference_clustered() -> None:
    # d = [1, 1, 0, 0] in clusters a, a, b, b: the clustered SE of d is 0.5 (see above)
    r = stats.paired_difference([1, 1, 0, 0], [0, 0, 0, 0], clusters=["a", "a", "b", "b"])
    assert r.stderr == pytest.approx(0.5)
    assert r.n_clusters == 2


def test_mcnemar_hand_values() -> None:
    # n10 = 8, n01 = 2: P(X ≤ 2 | 10, ½) = (1 + 10 + 45)/1024 = 56/1024 → p = 112/1024 = 0.109375
    exact = stats.mcnemar_exact(8, 2)
    assert exact.p_value == pytest.approx(112 / 1024, abs=1e-15)
    assert exact.discordant == 10
    # χ² = (|8 − 2| − 1)²/10 = 2.5; p = P(χ²₁ > 2.5) = erfc(√1.25) = 0.113846
    chi = stats.mcnemar_chi2(8, 2)
    assert chi.statistic == pytest.approx(2.5)
    assert chi.p_value == pytest.approx(0.113846, abs=1e-6)
    # n10 = 0, n01 = 5: p = 2·(1/32) = 0.0625
    assert stats.mcnemar_exact(0, 5).p_value == pytest.approx(0.0625)
    # nothing discordant: no evidence either way
    assert stats.mcnemar_exact(0, 0).p_value == 1.0
    assert stats.mcnemar_chi2(0, 0).p_value == 1.0
    # equal counts: p = 1 (capped)
    assert stats.mcnemar_exact(3, 3).p_value == 1.0
    # from item scores: a right/b wrong on items 0, 1; b right/a wrong on item 3
    r = stats.mcnemar([1, 1, 1, 0, 0], [0, 0, 1, 1, 0])
    assert (r.a_only, r.b_only) == (2, 1)
    with pytest.raises(StatsError, match="0/1"):
        stats.mcnemar([0.5, 1], [1, 0])


def test_mcnemar_exact_large_n_matches_integer_arithmetic() -> None:
    # n = 1100 takes the log-space path; compare with exact rational arithmetic
    a_only, b_only = 600, 500
    n = a_only + b_only
    tail = Fraction(sum(math.comb(n, i) for i in range(b_only + 1)), 2**n)
    expected = float(min(Fraction(1), 2 * tail))
    assert stats.mcnemar_exact(a_only, b_only).p_value == pytest.approx(expected, rel=1e-9)


def _naive_bootstrap(d: list[float], b: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    n = len(d)
    return sorted(sum(d[rng.randrange(n)] for _ in range(n)) / n for _ in range(b))


def test_paired_bootstrap_agrees_with_index_resampling() -> None:
    rng = random.Random(7)
    a = [float(rng.random() < 0.6) for _ in range(300)]
    b = [float(rng.random() < 0.5) for _ in range(300)]
    result = stats.paired_bootstrap(a, b, n_resamples=4000, seed=3)
    naive = _naive_bootstrap([x - y for x, y in zip(a, b, strict=True)], 4000, 11)
    # two independent Monte Carlo estimates of the same percentiles
    assert result.ci_low == pytest.approx(naive[int(0.025 * 3999)], abs=0.015)
    assert result.ci_high == pytest.approx(naive[int(0.975 * 3999)], abs=0.015)
    assert result.ci_low < result.estimate < result.ci_high
    assert result.unit == "item" and result.n_units == 300
    # seeded: the same call gives the same interval
    again = stats.paired_bootstrap(a, b, n_resamples=4000, seed=3)
    assert (again.ci_low, again.ci_high) == (result.ci_low, result.ci_high)


def test_paired_bootstrap_degenerate_and_clusters() -> None:
    # every difference is 1: every resample has mean 1
    r = stats.paired_bootstrap([1, 1, 1], [0, 0, 0], n_resamples=50)
    assert (r.ci_low, r.estimate, r.ci_high) == (1.0, 1.0, 1.0)
    clusters = [i // 4 for i in range(40)]
    rng = random.Random(1)
    a = [float(rng.random() < 0.7) for _ in range(40)]
    b = [float(rng.random() < 0.4) for _ in range(40)]
    r = stats.paired_bootstrap(a, b, clusters=clusters, n_resamples=500)
    assert r.unit == "cluster" and r.n_units == 10
    assert r.ci_low <= r.estimate <= r.ci_high
    with pytest.raises(StatsError):
        stats.paired_bootstrap(a, b, n_resamples=0)


def test_binomial_sampler_moments() -> None:
    # the BTRS branch (n·p ≥ 10) and the inversion branch: sample mean and variance near n·p, npq
    rng = random.Random(5)
    for n, p in ((1000, 0.3), (40, 0.05)):
        xs = [stats._binomial(rng, n, p) for _ in range(20000)]
        m = sum(xs) / len(xs)
        v = sum((x - m) ** 2 for x in xs) / (len(xs) - 1)
        assert m == pytest.approx(n * p, rel=0.02)
        assert v == pytest.approx(n * p * (1 - p), rel=0.06)
        assert all(0 <= x <= n for x in xs)


def test_items_needed_hand_values() -> None:
    # factor (1.959964 + 0.841621)² = 2.801585² = 7.848879
    # paired: δ = 0.05, p10 + p01 = 0.2: (0.2 − 0.0025)/0.0025 = 79 → 7.848879·79 = 620.06 → 621
    assert stats.paired_items_needed(0.05, 0.2) == 621
    # unpaired: 0.6 vs 0.5: (0.24 + 0.25)/0.01 = 49 → 7.848879·49 = 384.6 → 385
    assert stats.unpaired_items_needed(0.6, 0.5) == 385
    with pytest.raises(StatsError):
        stats.paired_items_needed(0.0, 0.2)
    with pytest.raises(StatsError):
        stats.paired_items_needed(0.3, 0.2)  # cannot differ by more than the discordant share


def test_holm_hand_values() -> None:
    # sorted: 0.005·4 = 0.02; 0.01·3 = 0.03; 0.03·2 = 0.06; 0.04·1 = 0.04 → running max 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.9]) == [1.0, 1.0]
    assert stats.holm([]) == []


def _item(i: int, scores: dict[str, float], error: str | None = None) -> ItemRecord:
    return ItemRecord(
        run_id="r",
        task="t",
        item_id=str(i),
        item_hash=f"h{i}",
        prompt_hash=f"p{i}",
        prompt="q",
        target="a",
        scores=scores,
        error=error,
    )


def test_summarize_items() -> None:
    records = [
        _item(0, {"acc": 1.0, "f1": 0.5}),
        _item(1, {"acc": 0.0, "f1": 1.0}),
        _item(2, {"acc": 1.0, "f1": 0.0}),
        _item(3, {"acc": 1.0}),
        _item(4, {}, error="server returned 500"),
    ]
    summaries = {s.metric: s for s in stats.summarize_items(records)}
    assert list(summaries) == ["acc", "f1"]
    acc = summaries["acc"]
    # the errored item is skipped: 3 of 4, SE = √(0.75·0.25/3) = 0.25, Wilson for 0/1 scores
    assert acc.n == 4 and acc.value == 0.75
    assert acc.stderr == pytest.approx(0.25)
    assert (acc.ci_low, acc.ci_high) == pytest.approx(stats.wilson_interval(3, 4))
    f1 = summaries["f1"]
    # f1 on 3 items: mean 0.5, Σdev² = 0.5, SE = √(0.5/6) = 0.288675; normal CI clipped to [0, 1]
    assert f1.n == 3 and f1.value == 0.5
    assert f1.stderr == pytest.approx(math.sqrt(0.5 / 6))
    assert f1.ci_low == 0.0 and f1.ci_high == 1.0
    single = stats.summarize_items([_item(0, {"f1": 0.3})])[0]
    assert (single.stderr, single.ci_low, single.ci_high) == (0.5, 0.0, 1.0)
    assert stats.summarize_items([_item(0, {}, error="x")]) == ()


@given(st.integers(0, 500), st.integers(1, 500), st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_contains_the_proportion(k: int, n: int, confidence: float) -> None:
    k = min(k, n)
    low, high = stats.wilson_interval(k, n, confidence)
    assert 0.0 <= low <= k / n <= high <= 1.0


@given(st.integers(0, 300), st.integers(0, 300))
def test_mcnemar_is_symmetric(x: int, y: int) -> None:
    assert stats.mcnemar_exact(x, y).p_value == stats.mcnemar_exact(y, x).p_value
    assert stats.mcnemar_chi2(x, y).p_value == stats.mcnemar_chi2(y, x).p_value
    assert 0.0 <= stats.mcnemar_exact(x, y).p_value <= 1.0


@settings(max_examples=60)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=3, max_size=60))
def test_paired_se_not_above_unpaired_when_correlated(pairs: list[tuple[bool, bool]]) -> None:
    a = [float(x) for x, _ in pairs]
    b = [float(y) for _, y in pairs]
    r = stats.paired_difference(a, b)
    if r.correlation is not None and r.correlation > 0:
        assert r.stderr <= r.unpaired_stderr + 1e-12
    if r.correlation is not None and r.correlation < 0:
        assert r.stderr >= r.unpaired_stderr - 1e-12
