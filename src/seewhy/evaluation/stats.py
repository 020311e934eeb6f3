"""Honest uncertainty for evaluation scores: pure functions, no model, no numpy.

Notation: item scores ``s_i`` in [0, 1], ``n`` items, mean ``s̄``. Formulas
follow Miller, "Adding Error Bars to Evals" (arXiv 2411.00640) and
lm-evaluation-harness where they agree:

* :func:`stderr` — the standard error of the mean, sample SD / √n (lm-eval's
  ``mean_stderr``): √(Σ(s_i − s̄)² / (n(n − 1))).
* :func:`wilson_interval` — the score interval for a proportion, better than
  s̄ ± z·SE near 0 or 1 and for small n.
* :func:`clustered_mean` — the cluster-robust standard error when items share
  a passage or subject: (1/n)·√(Σ_c (Σ_{i∈c}(s_i − s̄))²), multiplied by
  √(C/(C − 1)) by default (the usual small-sample correction; with one item
  per cluster it then equals :func:`stderr` exactly).
* :func:`paired_difference` — two models on the same items: SE of the mean
  per-item difference, which a positive correlation between the models makes
  smaller than lm-eval's unpaired √(SE_A² + SE_B²).
* :func:`mcnemar_exact` / :func:`mcnemar_chi2` — the test on discordant items.
* :func:`paired_bootstrap` — a seeded percentile bootstrap of the mean
  difference, over items or whole clusters.
* :func:`paired_items_needed` / :func:`unpaired_items_needed` — items needed
  to detect a difference with the given power.
* :func:`holm` — Holm's step-down correction for several p-values.
* :func:`summarize_items` — a run's :class:`ItemRecord` list to one
  :class:`MetricSummary` per metric.

Everything is plain Python (``math``, ``statistics.NormalDist``,
``random.Random``) and linear in the number of items; the bootstrap groups
equal units, so 0/1 scores on 100,000 items resample in milliseconds.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

from seewhy.errors import SeewhyError
from seewhy.evaluation.model import ItemRecord, MetricSummary

__all__ = [
    "BootstrapInterval",
    "ClusteredEstimate",
    "Estimate",
    "McNemarResult",
    "PairedDifference",
    "StatsError",
    "clustered_mean",
    "holm",
    "is_binary",
    "mcnemar",
    "mcnemar_chi2",
    "mcnemar_exact",
    "mean",
    "mean_estimate",
    "normal_quantile",
    "paired_bootstrap",
    "paired_difference",
    "paired_items_needed",
    "proportion_estimate",
    "stderr",
    "summarize_items",
    "unpaired_items_needed",
    "wilson_interval",
    "z_for",
]

_NORMAL = NormalDist()


class StatsError(SeewhyError, ValueError):
    """A statistic was asked of data that cannot give it (no items, bad lengths, bad levels)."""


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class Estimate:
    """A mean with its standard error and a confidence interval.

    ``method`` names the interval: ``"normal"`` (value ± z·SE) or
    ``"wilson"``. ``stderr`` is NaN when it cannot be estimated (n < 2).
    """

    value: float
    stderr: float
    ci_low: float
    ci_high: float
    n: int
    confidence: float = 0.95
    method: str = "normal"


@dataclass(frozen=True)
class ClusteredEstimate:
    """A mean with its cluster-robust standard error (see :func:`clustered_mean`)."""

    value: float
    stderr: float
    ci_low: float
    ci_high: float
    n: int
    n_clusters: int
    iid_stderr: float  # the plain stderr, for contrast
    corrected: bool  # multiplied by √(C/(C−1))
    confidence: float = 0.95

    @property
    def design_effect(self) -> float:
        """(clustered SE / iid SE)²: how many times the clustering inflates the variance."""
        if not self.iid_stderr or math.isnan(self.iid_stderr):
            return math.nan
        return (self.stderr / self.iid_stderr) ** 2


@dataclass(frozen=True)
class PairedDifference:
    """Model A minus model B on the same items.

    ``stderr`` is the paired SE, sd(d)/√n (or clustered over ``d`` when
    clusters were given); ``unpaired_stderr`` is √(SE_A² + SE_B²), the SE an
    unpaired comparison (lm-eval's ``model_comparator``) would use.
    ``correlation`` is Pearson's r between the two models' item scores, None
    when either model's scores do not vary. ``z`` and ``p_value`` test d̄ = 0
    with the paired SE (normal approximation, two-sided).
    """

    mean_a: float
    mean_b: float
    difference: float
    stderr: float
    unpaired_stderr: float
    correlation: float | None
    ci_low: float
    ci_high: float
    z: float
    p_value: float
    n: int
    confidence: float = 0.95
    n_clusters: int | None = None


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's test on paired 0/1 outcomes.

    ``a_only`` = items A gets right and B wrong (n₁₀), ``b_only`` the reverse
    (n₀₁). ``statistic`` is the continuity-corrected χ² for the ``"chi2"``
    method and None for ``"exact"`` (a two-sided binomial test of n₁₀ among
    the discordant items at p = ½).
    """

    a_only: int
    b_only: int
    p_value: float
    method: str
    statistic: float | None = None

    @property
    def discordant(self) -> int:
        """Items where exactly one model is right."""
        return self.a_only + self.b_only


@dataclass(frozen=True)
class BootstrapInterval:
    """A percentile bootstrap interval for the mean difference A − B."""

    estimate: float
    ci_low: float
    ci_high: float
    n_resamples: int
    confidence: float
    seed: int
    unit: str  # "item" or "cluster"
    n_units: int


# ------------------------------------------------------------------ basics


def normal_quantile(p: float) -> float:
    """The standard normal quantile Φ⁻¹(p), 0 < p < 1."""
    if not 0.0 < p < 1.0:
        raise StatsError(f"a quantile needs 0 < p < 1, got {p}")
    return _NORMAL.inv_cdf(p)


def z_for(confidence: float) -> float:
    """The two-sided critical value for ``confidence`` (1.959964… for 0.95)."""
    if not 0.0 < confidence < 1.0:
        raise StatsError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")
    return _NORMAL.inv_cdf(0.5 + confidence / 2.0)


def _floats(values: Iterable[float], what: str = "values") -> list[float]:
    out = [float(v) for v in values]
    if not out:
        raise StatsError(f"no {what}: a statistic needs at least one item")
    for v in out:
        if math.isnan(v) or math.isinf(v):
            raise StatsError(f"{what} contain {v}; every score must be a finite number")
    return out


def mean(values: Iterable[float]) -> float:
    """The arithmetic mean (accurate summation)."""
    xs = _floats(values)
    return math.fsum(xs) / len(xs)


def _sum_sq_dev(xs: Sequence[float], centre: float) -> float:
    return math.fsum((x - centre) * (x - centre) for x in xs)


def stderr(values: Iterable[float]) -> float:
    """Sample SD / √n, lm-eval's standard error of a mean; NaN for fewer than 2 items."""
    xs = _floats(values)
    n = len(xs)
    if n < 2:
        return math.nan
    m = math.fsum(xs) / n
    return math.sqrt(_sum_sq_dev(xs, m) / (n * (n - 1)))


def _normal_ci(value: float, se: float, z: float) -> tuple[float, float]:
    if math.isnan(se):
        return (-math.inf, math.inf)
    return (value - z * se, value + z * se)


def mean_estimate(values: Iterable[float], confidence: float = 0.95) -> Estimate:
    """Mean, :func:`stderr` and the normal interval mean ± z·SE."""
    xs = _floats(values)
    value = math.fsum(xs) / len(xs)
    se = stderr(xs)
    low, high = _normal_ci(value, se, z_for(confidence))
    return Estimate(value, se, low, high, len(xs), confidence, "normal")


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion ``successes / n``.

    [p + z²/2n ± z·√(p(1−p)/n + z²/4n²)] / (1 + z²/n). ``successes`` may be
    fractional (a mean of 0/1 scores times n); n = 0 gives (0, 1).
    """
    if n < 0 or successes < 0 or successes > n:
        raise StatsError(f"need 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return (0.0, 1.0)
    z = z_for(confidence)
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    denom = 1 + z2 / n
    low = 0.0 if successes == 0 else max(0.0, min(p, (centre - half) / denom))
    high = 1.0 if successes == n else min(1.0, max(p, (centre + half) / denom))
    return (low, high)


def proportion_estimate(successes: float, n: int, confidence: float = 0.95) -> Estimate:
    """A proportion with lm-eval's SE (sample SD / √n) and the Wilson interval."""
    low, high = wilson_interval(successes, n, confidence)
    if n == 0:
        raise StatsError("no items: a proportion needs at least one")
    p = successes / n
    se = math.sqrt(p * (1 - p) / (n - 1)) if n > 1 else math.nan
    return Estimate(p, se, low, high, n, confidence, "wilson")


def is_binary(values: Iterable[float]) -> bool:
    """True when every value is exactly 0 or 1."""
    return all(v == 0.0 or v == 1.0 for v in values)


# ------------------------------------------------------------------ clusters


def _cluster_sums(
    residuals: Sequence[float], clusters: Sequence[Hashable]
) -> dict[Hashable, list[float]]:
    groups: dict[Hashable, list[float]] = {}
    for r, c in zip(residuals, clusters, strict=True):
        groups.setdefault(c, []).append(r)
    return groups


def _clustered_se(
    xs: Sequence[float], clusters: Sequence[Hashable], correct: bool
) -> tuple[float, float, int]:
    if len(xs) != len(clusters):
        raise StatsError(f"{len(xs)} scores but {len(clusters)} cluster labels; give one each")
    n = len(xs)
    m = math.fsum(xs) / n
    groups = _cluster_sums([x - m for x in xs], clusters)
    c = len(groups)
    total = math.fsum(math.fsum(g) ** 2 for g in groups.values())
    var = total / (n * n)
    if correct:
        var = var * c / (c - 1) if c > 1 else math.nan
    return m, math.sqrt(var) if not math.isnan(var) else math.nan, c


def clustered_mean(
    values: Iterable[float],
    clusters: Sequence[Hashable],
    *,
    correction: bool = True,
    confidence: float = 0.95,
) -> ClusteredEstimate:
    """Mean with the cluster-robust SE (Miller's formula).

    SE = (1/n)·√(Σ_c (Σ_{i∈c}(s_i − s̄))²), times √(C/(C−1)) when
    ``correction`` (the default, as inspect-ai and CR1 sandwich estimators
    do; it makes the SE equal :func:`stderr` when every item is its own
    cluster). With one cluster the corrected SE is NaN: nothing to estimate.
    """
    xs = _floats(values)
    clusters = list(clusters)
    value, se, c = _clustered_se(xs, clusters, correction)
    low, high = _normal_ci(value, se, z_for(confidence))
    return ClusteredEstimate(value, se, low, high, len(xs), c, stderr(xs), correction, confidence)


# ------------------------------------------------------------------ pairs


def _pair(a: Iterable[float], b: Iterable[float]) -> tuple[list[float], list[float]]:
    xa, xb = _floats(a, "scores of A"), _floats(b, "scores of B")
    if len(xa) != len(xb):
        raise StatsError(
            f"A has {len(xa)} item scores and B {len(xb)}: a paired comparison needs the "
            "same items in the same order"
        )
    return xa, xb


def _correlation(xa: Sequence[float], xb: Sequence[float]) -> float | None:
    n = len(xa)
    ma, mb = math.fsum(xa) / n, math.fsum(xb) / n
    saa = _sum_sq_dev(xa, ma)
    sbb = _sum_sq_dev(xb, mb)
    if saa == 0 or sbb == 0:
        return None
    sab = math.fsum((x - ma) * (y - mb) for x, y in zip(xa, xb, strict=True))
    return max(-1.0, min(1.0, sab / math.sqrt(saa * sbb)))


def _two_sided_p(z: float) -> float:
    if math.isnan(z):
        return math.nan
    if math.isinf(z):
        return 0.0
    return math.erfc(abs(z) / math.sqrt(2.0))


def paired_difference(
    a: Iterable[float],
    b: Iterable[float],
    *,
    clusters: Sequence[Hashable] | None = None,
    confidence: float = 0.95,
) -> PairedDifference:
    """d̄ = mean(a_i − b_i) with the paired SE, the unpaired SE and the correlation.

    SE(d̄) = sd(d)/√n = √((Var a + Var b − 2 Cov(a, b))/n); with ``clusters``
    the clustered SE of ``d`` (corrected). When SE is 0 (every difference
    equal) z is ±inf for d̄ ≠ 0 and NaN for d̄ = 0.
    """
    xa, xb = _pair(a, b)
    d = [x - y for x, y in zip(xa, xb, strict=True)]
    n = len(d)
    n_clusters: int | None = None
    if clusters is not None:
        diff, se, n_clusters = _clustered_se(d, list(clusters), True)
    else:
        diff = math.fsum(d) / n
        se = stderr(d)
    se_a, se_b = stderr(xa), stderr(xb)
    unpaired = math.sqrt(se_a * se_a + se_b * se_b)
    if math.isnan(se):
        z = math.nan
    elif se == 0:
        z = math.nan if diff == 0 else math.copysign(math.inf, diff)
    else:
        z = diff / se
    low, high = _normal_ci(diff, se, z_for(confidence))
    return PairedDifference(
        mean_a=math.fsum(xa) / n,
        mean_b=math.fsum(xb) / n,
        difference=diff,
        stderr=se,
        unpaired_stderr=unpaired,
        correlation=_correlation(xa, xb),
        ci_low=low,
        ci_high=high,
        z=z,
        p_value=_two_sided_p(z),
        n=n,
        confidence=confidence,
        n_clusters=n_clusters,
    )


def _discordant(a: Iterable[float], b: Iterable[float]) -> tuple[int, int]:
    xa, xb = _pair(a, b)
    if not (is_binary(xa) and is_binary(xb)):
        raise StatsError("McNemar's test needs 0/1 scores for both models")
    a_only = sum(1 for x, y in zip(xa, xb, strict=True) if x == 1.0 and y == 0.0)
    b_only = sum(1 for x, y in zip(xa, xb, strict=True) if x == 0.0 and y == 1.0)
    return a_only, b_only


def _binom_half_cdf(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, ½), accurate for n up to millions."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if n <= 1000:
        return math.fsum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
    # log pmf(k), then walk down: pmf(i-1)/pmf(i) = i / (n - i + 1)
    log_top = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) - n * math.log(2)
    term, total = 1.0, 1.0
    for i in range(k, 0, -1):
        term *= i / (n - i + 1)
        total += term
        if term < 1e-17 * total:
            break
    return min(1.0, math.exp(log_top) * total)


def mcnemar_exact(a_only: int, b_only: int) -> McNemarResult:
    """Exact McNemar: p = min(1, 2·P(X ≤ min(n₁₀, n₀₁))), X ~ Binomial(n₁₀ + n₀₁, ½).

    No discordant items gives p = 1 (no evidence of a difference).
    """
    if a_only < 0 or b_only < 0:
        raise StatsError("discordant counts cannot be negative")
    n = a_only + b_only
    p = 1.0 if n == 0 else min(1.0, 2.0 * _binom_half_cdf(min(a_only, b_only), n))
    return McNemarResult(a_only, b_only, p, "exact")


def mcnemar_chi2(a_only: int, b_only: int) -> McNemarResult:
    """McNemar's χ² with continuity correction: (max(0, |n₁₀ − n₀₁| − 1))²/(n₁₀ + n₀₁), 1 df."""
    if a_only < 0 or b_only < 0:
        raise StatsError("discordant counts cannot be negative")
    n = a_only + b_only
    if n == 0:
        return McNemarResult(a_only, b_only, 1.0, "chi2", 0.0)
    stat = max(0, abs(a_only - b_only) - 1) ** 2 / n
    # survival function of χ² with 1 df: P(|Z| > √stat)
    return McNemarResult(a_only, b_only, math.erfc(math.sqrt(stat / 2.0)), "chi2", stat)


def mcnemar(a: Iterable[float], b: Iterable[float], *, exact: bool = True) -> McNemarResult:
    """McNemar's test from two models' 0/1 item scores (same items, same order)."""
    a_only, b_only = _discordant(a, b)
    return mcnemar_exact(a_only, b_only) if exact else mcnemar_chi2(a_only, b_only)


# ------------------------------------------------------------------ bootstrap


def _binomial(rng: random.Random, n: int, p: float) -> int:
    """One Binomial(n, p) draw: inversion for small means, BTRS (Hörmann 1993) otherwise."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - _binomial(rng, n, 1.0 - p)
    q = 1.0 - p
    if n * p < 10.0:
        s = p / q
        a = (n + 1) * s
        r = q**n
        u = rng.random()
        x = 0
        while u > r:
            u -= r
            x += 1
            r *= a / x - s
            if x > n or r <= 0.0:  # rounding at the far tail: start over
                u, x, r = rng.random(), 0, q**n
        return x
    spq = math.sqrt(n * p * q)
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    alpha = (2.83 + 5.1 / b) * spq
    lpq = math.log(p / q)
    m = math.floor((n + 1) * p)
    h = math.lgamma(m + 1) + math.lgamma(n - m + 1)
    while True:
        u = rng.random() - 0.5
        v = rng.random()
        us = 0.5 - abs(u)
        k = math.floor((2 * a / us + b) * u + c)
        if k < 0 or k > n:
            continue
        if us >= 0.07 and v <= v_r:
            return k
        v = math.log(v * alpha / (a / (us * us) + b))
        if v <= h - math.lgamma(k + 1) - math.lgamma(n - k + 1) + (k - m) * lpq:
            return k


def _multinomial(rng: random.Random, n: int, weights: Sequence[int]) -> list[int]:
    """Counts of ``n`` draws with replacement from units with the given multiplicities."""
    remaining_n, remaining_w = n, sum(weights)
    counts: list[int] = []
    for w in weights[:-1]:
        k = _binomial(rng, remaining_n, w / remaining_w) if remaining_n else 0
        counts.append(k)
        remaining_n -= k
        remaining_w -= w
    counts.append(remaining_n)
    return counts


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default)."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def paired_bootstrap(
    a: Iterable[float],
    b: Iterable[float],
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    clusters: Sequence[Hashable] | None = None,
) -> BootstrapInterval:
    """Percentile bootstrap interval of d̄ = mean(a − b), resampling items or whole clusters.

    Each resample draws as many units (items, or clusters when ``clusters``
    is given) as there are, with replacement, and takes Σd / Σ(items) over
    the draw. Units with the same (sum of d, size) are interchangeable, so
    a resample is a multinomial draw over the distinct kinds — the same
    distribution as drawing unit indices, at a cost independent of n for
    0/1 scores. Seeded with ``random.Random(seed)``: the same inputs and
    seed give the same interval on every Python version.
    """
    if n_resamples < 1:
        raise StatsError(f"n_resamples must be at least 1, got {n_resamples}")
    alpha = 1.0 - confidence
    if not 0.0 < alpha < 1.0:
        raise StatsError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")
    xa, xb = _pair(a, b)
    d = [x - y for x, y in zip(xa, xb, strict=True)]
    if clusters is not None:
        labels = list(clusters)
        if len(labels) != len(d):
            raise StatsError(f"{len(d)} scores but {len(labels)} cluster labels; give one each")
        groups: dict[Hashable, list[float]] = {}
        for v, c in zip(d, labels, strict=True):
            groups.setdefault(c, []).append(v)
        units = [(math.fsum(g), len(g)) for g in groups.values()]
        unit = "cluster"
    else:
        units = [(v, 1) for v in d]
        unit = "item"
    kinds = Counter(units)
    ordered = sorted(kinds.items(), key=lambda kv: (kv[0][0], kv[0][1]))
    sums = [k[0] for k, _ in ordered]
    sizes = [k[1] for k, _ in ordered]
    weights = [w for _, w in ordered]
    n_units = len(units)
    rng = random.Random(seed)
    stats: list[float] = []
    for _ in range(n_resamples):
        counts = _multinomial(rng, n_units, weights)
        total = math.fsum(c * s for c, s in zip(counts, sums, strict=True))
        size = sum(c * z for c, z in zip(counts, sizes, strict=True))
        stats.append(total / size)
    stats.sort()
    return BootstrapInterval(
        estimate=math.fsum(d) / len(d),
        ci_low=_percentile(stats, alpha / 2),
        ci_high=_percentile(stats, 1 - alpha / 2),
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
        unit=unit,
        n_units=n_units,
    )


# ------------------------------------------------------------------ power


def _check_levels(alpha: float, power: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise StatsError(f"alpha must be between 0 and 1, got {alpha}")
    if not 0.0 < power < 1.0:
        raise StatsError(f"power must be between 0 and 1, got {power}")
    z = normal_quantile(1 - alpha / 2) + normal_quantile(power)
    return z * z


def paired_items_needed(
    delta: float, discordant: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Items needed to detect a paired 0/1 difference ``delta`` = p₁₀ − p₀₁.

    n = ⌈(z_{1−α/2} + z_{power})² · (p₁₀ + p₀₁ − δ²) / δ²⌉, where
    ``discordant`` = p₁₀ + p₀₁ is the share of items the two models
    disagree on (so |δ| ≤ discordant ≤ 1).
    """
    factor = _check_levels(alpha, power)
    if delta == 0:
        raise StatsError("a difference of 0 cannot be detected with any number of items")
    if not abs(delta) <= discordant <= 1.0:
        raise StatsError(
            f"the discordant share ({discordant}) must lie between |delta| ({abs(delta)}) and 1"
        )
    return max(1, math.ceil(factor * (discordant - delta * delta) / (delta * delta)))


def unpaired_items_needed(
    p_a: float, p_b: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Items per model to detect p_a ≠ p_b with independent samples.

    n = ⌈(z_{1−α/2} + z_{power})² · (p_a(1−p_a) + p_b(1−p_b)) / (p_a − p_b)²⌉.
    """
    factor = _check_levels(alpha, power)
    for p in (p_a, p_b):
        if not 0.0 <= p <= 1.0:
            raise StatsError(f"accuracies must lie in [0, 1], got {p}")
    delta = p_a - p_b
    if delta == 0:
        raise StatsError("a difference of 0 cannot be detected with any number of items")
    variance = p_a * (1 - p_a) + p_b * (1 - p_b)
    return max(1, math.ceil(factor * variance / (delta * delta)))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order (each ≤ 1, monotone)."""
    m = len(p_values)
    for p in p_values:
        if not 0.0 <= p <= 1.0:
            raise StatsError(f"p-values must lie in [0, 1], got {p}")
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


# ------------------------------------------------------------------ runs


def summarize_items(
    records: Iterable[ItemRecord], confidence: float = 0.95
) -> tuple[MetricSummary, ...]:
    """One :class:`MetricSummary` per metric over the items that were scored.

    Errored items (``error`` set) are skipped; an item lacking a metric does
    not count towards that metric's ``n``. ``stderr`` is sample SD / √n as
    lm-eval reports it. The interval is Wilson's for 0/1 metrics and
    mean ± z·SE clipped to [0, 1] otherwise. With a single item the SE
    cannot be estimated: it is reported as 0.5 (the largest SD a score in
    [0, 1] can have) and a non-binary metric's interval as [0, 1].
    Metrics come in the order they first appear.
    """
    z = z_for(confidence)
    columns: dict[str, list[float]] = {}
    for record in records:
        if record.error is not None:
            continue
        for name, value in record.scores.items():
            columns.setdefault(name, []).append(float(value))
    out: list[MetricSummary] = []
    for name, xs in columns.items():
        xs = [x for x in xs if not (math.isnan(x) or math.isinf(x))]
        if not xs:
            continue
        n = len(xs)
        value = math.fsum(xs) / n
        se = stderr(xs) if n > 1 else 0.5
        if is_binary(xs):
            low, high = wilson_interval(math.fsum(xs), n, confidence)
        elif n > 1:
            low, high = max(0.0, value - z * se), min(1.0, value + z * se)
        else:
            low, high = 0.0, 1.0
        out.append(
            MetricSummary(metric=name, value=value, stderr=se, ci_low=low, ci_high=high, n=n)
        )
    return tuple(out)
