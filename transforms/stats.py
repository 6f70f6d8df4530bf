"""Tail probabilities for counts out of a total: binomial and beta-binomial, vectorized.

Hourly conversion varies more than a binomial: the rate itself moves from hour to hour
(weather, competitors, a slow page). The beta-binomial carries that as an intra-class
correlation `rho`: Var(X) = n p (1 - p) (1 + (n - 1) rho). With rho = 0 it is the binomial;
with rho > 0 the spread grows with volume, so a big shop is not alerted on every wobble.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "distributions",
    "effective_rho",
    "lower_tail",
    "moment_rho",
    "upper_tail",
]

Floats = NDArray[np.float64]
# below this correlation the beta-binomial is numerically the binomial
_TINY_RHO = 1e-9


def distributions() -> ModuleType:
    """`scipy.stats`, imported on first use: it takes 1–3 s, which every command (`--help`
    included) would otherwise pay at start."""
    from scipy import stats

    return stats


def _arrays(*values: ArrayLike) -> list[Floats]:
    return [np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(*values)]


def _beta_params(p: Floats, rho: Floats) -> tuple[Floats, Floats]:
    scale = 1.0 / np.maximum(rho, _TINY_RHO) - 1.0
    return p * scale, (1.0 - p) * scale


def lower_tail(x: ArrayLike, n: ArrayLike, p: ArrayLike, rho: ArrayLike = 0.0) -> Floats:
    """P(X <= x) for X ~ BetaBinomial(n, mean p, correlation rho); binomial where rho == 0.

    NaN where the test is undefined (n < 1, or p outside (0, 1)).
    """
    xs, ns, ps, rhos = _arrays(x, n, p, rho)
    out = np.full(xs.shape, np.nan)
    ok = (ns >= 1) & (ps > 0) & (ps < 1) & np.isfinite(rhos)
    binomial = ok & (rhos <= _TINY_RHO)
    beta = ok & ~binomial
    if binomial.any():
        out[binomial] = distributions().binom.cdf(xs[binomial], ns[binomial], ps[binomial])
    if beta.any():
        a, b = _beta_params(ps[beta], rhos[beta])
        out[beta] = distributions().betabinom.cdf(xs[beta], ns[beta], a, b)
    return np.clip(out, 0.0, 1.0)


def upper_tail(x: ArrayLike, n: ArrayLike, p: ArrayLike, rho: ArrayLike = 0.0) -> Floats:
    """P(X >= x) for X ~ BetaBinomial(n, mean p, correlation rho); binomial where rho == 0."""
    xs, ns, ps, rhos = _arrays(x, n, p, rho)
    out = np.full(xs.shape, np.nan)
    ok = (ns >= 1) & (ps > 0) & (ps < 1) & np.isfinite(rhos)
    binomial = ok & (rhos <= _TINY_RHO)
    beta = ok & ~binomial
    if binomial.any():
        out[binomial] = distributions().binom.sf(xs[binomial] - 1, ns[binomial], ps[binomial])
    if beta.any():
        a, b = _beta_params(ps[beta], rhos[beta])
        out[beta] = distributions().betabinom.sf(xs[beta] - 1, ns[beta], a, b)
    return np.clip(out, 0.0, 1.0)


def effective_rho(n: ArrayLike, p: ArrayLike, variance: ArrayLike) -> Floats:
    """The correlation that gives a count out of `n` with mean rate `p` the given variance.

    Used to fold extra uncertainty (a baseline estimated from a few hours, a sum over
    several hours) into one beta-binomial; never below 0 (the binomial's own spread).
    """
    ns, ps, var = _arrays(n, p, variance)
    binomial = ns * ps * (1.0 - ps)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (var / binomial - 1.0) / (ns - 1.0)
    return np.where((ns > 1) & (binomial > 0), np.clip(rho, 0.0, 0.5), 0.0)


def moment_rho(x: ArrayLike, n: ArrayLike, p: ArrayLike, groups: ArrayLike = 1.0) -> float:
    """Method-of-moments correlation of counts `x` out of `n` around expected rates `p`.

    `groups` is, per row, the number of rows its expected rate was averaged from (the
    residual around an estimated mean is smaller by (m - 1) / m); 1 means p is known.
    """
    xs, ns, ps, ms = _arrays(x, n, p, groups)
    keep = (ns > 1) & (ps > 0) & (ps < 1)
    if not keep.any():
        return 0.0
    xs, ns, ps, ms = xs[keep], ns[keep], ps[keep], ms[keep]
    correction = np.where(ms > 1, ms / np.maximum(ms - 1, 1), 1.0)
    binomial = ns * ps * (1.0 - ps)
    excess = (xs - ns * ps) ** 2 * correction - binomial
    denominator = (ns * (ns - 1.0) * ps * (1.0 - ps)).sum()
    if denominator <= 0:
        return 0.0
    return float(max(0.0, excess.sum() / denominator))
