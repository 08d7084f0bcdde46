"""Uncertainty propagation from a :class:`TransportProfile`'s error bars to continuum outputs.

MD gives D_i(z), F_i(z) and φ(z) with standard errors (the profile's ``*_err`` arrays,
independent per bin unless a covariance is given). :func:`propagate_uncertainty` carries
them into any scalar output of a continuum solve (fluxes, currents, concentrations at chosen
points) in two independent ways, which are cross-checked:

* **Monte Carlo**: N profiles are drawn within the errors (seeded), each is solved, and the
  mean, standard deviation and a 95 % percentile interval of every output are reported, with
  the Monte Carlo error of each (a binomial order-statistics bound on the percentiles).
  Positive quantities (D, D∥, c) are log-normal with the profile's mean and covariance
  (moment-matched: ln x ~ N(ln x̄ − s²/2, s²), s²_ij = ln(1 + C_ij / (x̄_i x̄_j))), so they
  stay positive and keep the profile's mean and variance exactly; F and φ are normal.
* **Linearised** (first-order, delta method): central (or forward) finite-difference
  derivatives g_i = ∂y/∂x_i of each output with respect to every bin's parameter give
  σ_y² = Σ_ij g_i g_j C_ij (= Σ_i g_i² σ_i² for independent bins). The variance is split
  into the contribution of each parameter group (one profile array of one species) and of
  each bin, and the largest is named as the dominant source of uncertainty.

The problem is not tied to a geometry: a user callback ``build(profile) -> (problem,
outputs)`` makes a (solved or unsolved) problem from a profile, and ``outputs`` maps names to
numbers or to functions of the solved problem, e.g. ``{"J": lambda p: p.flux("A", "left")}``.

Parallelism (MPI). Two modes, chosen by ``comm``:

* ``comm=None`` (default): every solve runs on the communicator that ``build`` puts its mesh
  on (e.g. ``MPI.COMM_WORLD``), one after another; all ranks call
  :func:`propagate_uncertainty` (the solves are collective).
* ``comm`` given: the solves are independent tasks spread round-robin over the ranks of
  ``comm`` and gathered; ``build`` must then make a serial problem (mesh on
  ``MPI.COMM_SELF``).

The random draws come from one seeded generator on every rank and the results are gathered in
task order, so both modes give the same numbers on any number of ranks (up to the solver's
round-off).

This module imports neither DOLFINx nor MPI; it only calls ``build``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .profile import TransportProfile
from .results import ConvergenceError

__all__ = [
    "OutputUncertainty",
    "ParameterGroup",
    "UncertaintyResult",
    "parameter_groups",
    "propagate_uncertainty",
    "sample_profiles",
]

log = logging.getLogger("continuum")

#: profile arrays sampled log-normally (positive) and normally
LOG_NORMAL = ("diffusion", "diffusion_parallel", "concentration")
NORMAL = ("free_energy", "potential")
SUPPORTED = LOG_NORMAL + NORMAL
#: arrays propagated by default (those that the profile carries errors for)
DEFAULT_INCLUDE = ("diffusion", "diffusion_parallel", "free_energy", "potential")

Build = Callable[[TransportProfile], tuple[Any, Mapping[str, Any]]]


@dataclass
class ParameterGroup:
    """One uncertain profile array (of one species): the bins that carry an error.

    Attributes
    ----------
    name : str
        Profile attribute, e.g. ``"diffusion"``.
    species : str or None
        Species of a per-species array, None for φ.
    bins : ndarray of int
        Grid indices with a nonzero error (the others are held at their values).
    value : ndarray
        Nominal values at ``bins`` (SI units of the array).
    covariance : ndarray
        Covariance of the values at ``bins`` (units squared).
    log : bool
        True for log-normal sampling (positive quantities).
    """

    name: str
    species: str | None
    bins: np.ndarray
    value: np.ndarray
    covariance: np.ndarray
    log: bool

    @property
    def label(self) -> str:
        """``"diffusion[Na+]"`` or ``"potential"``."""
        return self.name if self.species is None else f"{self.name}[{self.species}]"

    @property
    def sigma(self) -> np.ndarray:
        """Standard errors at ``bins`` (units of the array)."""
        return np.sqrt(np.diag(self.covariance))

    def log_normal_parameters(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of ln x of the moment-matched log-normal (log groups only)."""
        s2 = np.log1p(self.covariance / np.outer(self.value, self.value))
        return np.log(self.value) - 0.5 * np.diag(s2), s2


@dataclass
class OutputUncertainty:
    """The propagated uncertainty of one scalar output (its SI units).

    Attributes
    ----------
    name : str
        Output name (a key of ``build``'s ``outputs``).
    value : float
        Output of the nominal profile.
    mean, std : float
        Monte Carlo mean and standard deviation (NaN without samples).
    mean_err, std_err : float
        Their Monte Carlo (sampling) standard errors, std/√N and std/√(2(N−1)).
    interval : (float, float)
        Monte Carlo percentile interval at ``level`` (95 % by default).
    interval_bounds : (float, float)
        The interval widened by its own Monte Carlo error: a lower bound of the lower
        percentile and an upper bound of the upper one, each at 97.5 % confidence (the wider
        of binomial order statistics and the asymptotic standard error of a quantile), so
        that the exact ``level`` interval lies inside with >= 95 % confidence; exactly so
        (for any distribution) from ~170 samples on, approximately below.
    linear_std : float
        First-order σ_y = sqrt(gᵀ C g) (NaN when not computed).
    linear_interval : (float, float)
        value ± z σ_y (z = 1.96 for 95 %).
    contributions : dict
        Linearised variance of each parameter group (label → units²), largest first.
    bin_contributions : dict
        Per group, the variance contributed by each bin (label → array over the group's bins).
    dominant : str
        Label of the group contributing most variance (linearised; "" with Monte Carlo
        only or when the linearised spread is at round-off level, below 1e-12 of the value).
    dominant_bin : int
        Grid index of the single bin contributing most variance (−1 if unknown).
    second_order_mean : float
        value + ½ Σ_i (∂²y/∂x_i²) σ_i², the mean to second order, from the central
        differences (NaN with ``scheme="forward"`` or when a group has a full covariance,
        whose mixed second derivatives are not computed).
    std_z_score : float
        (Monte Carlo std − linear std) / std_err: abs(z) ≲ 3 when the two agree within the
        sampling error.
    consistent : bool or None
        The cross-check passes: abs(std_z_score) ≤ 3 and the Monte Carlo mean lies within
        3 mean_err of ``second_order_mean`` (of ``value`` where that is NaN).
    near_linear : bool or None
        The second-order shift of the mean is below 0.1 linear_std: the response is linear
        over the error bars, and the linearised interval is as good as the Monte Carlo one.
        False says where it is not (skewed output; prefer the Monte Carlo interval).
    """

    name: str
    value: float
    mean: float = float("nan")
    std: float = float("nan")
    mean_err: float = float("nan")
    std_err: float = float("nan")
    interval: tuple[float, float] = (float("nan"), float("nan"))
    interval_bounds: tuple[float, float] = (float("nan"), float("nan"))
    linear_std: float = float("nan")
    linear_interval: tuple[float, float] = (float("nan"), float("nan"))
    contributions: dict[str, float] = field(default_factory=dict)
    bin_contributions: dict[str, np.ndarray] = field(default_factory=dict)
    dominant: str = ""
    dominant_bin: int = -1
    second_order_mean: float = float("nan")
    std_z_score: float = float("nan")
    consistent: bool | None = None
    near_linear: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (no per-bin arrays)."""
        d = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("bin_contributions",)}
        for k in ("interval", "interval_bounds", "linear_interval"):
            d[k] = [float(x) for x in d[k]]
        return d


@dataclass
class UncertaintyResult:
    """Result of :func:`propagate_uncertainty`.

    Attributes
    ----------
    outputs : dict
        Output name → :class:`OutputUncertainty`.
    groups : list of ParameterGroup
        The uncertain parameters that were propagated.
    samples : ndarray, shape (n_ok, n_outputs)
        Output values of the Monte Carlo samples that converged (columns in ``outputs``
        order).
    n_samples, n_failed : int
        Samples drawn, and samples whose solve did not converge (left out).
    n_solves : int
        Solves done in all (nominal, finite differences, samples).
    level : float
        Confidence level of the intervals.
    seed : int
        Seed of the generator.
    """

    outputs: dict[str, OutputUncertainty]
    groups: list[ParameterGroup]
    samples: np.ndarray
    n_samples: int
    n_failed: int
    n_solves: int
    level: float
    seed: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        return {
            "n_samples": self.n_samples,
            "n_failed": self.n_failed,
            "n_solves": self.n_solves,
            "level": self.level,
            "seed": self.seed,
            "parameters": {g.label: int(g.bins.size) for g in self.groups},
            "outputs": {k: v.to_dict() for k, v in self.outputs.items()},
        }


# ---------------------------------------------------------------------------- parameters
def _check_covariance(key: str, cov: Any, n: int) -> np.ndarray:
    c = np.asarray(cov, dtype=float)
    if c.shape != (n, n):
        raise ValueError(f"covariance[{key!r}] must have shape ({n}, {n}) (the profile grid)")
    if not np.all(np.isfinite(c)):
        raise ValueError(f"covariance[{key!r}] contains NaN or infinite values")
    if not np.allclose(c, c.T, rtol=1e-10, atol=0.0):
        raise ValueError(f"covariance[{key!r}] must be symmetric")
    w = np.linalg.eigvalsh(c) if n else np.zeros(0)
    if n and w.min() < -1e-10 * max(float(w.max()), 0.0) - 1e-300:
        raise ValueError(
            f"covariance[{key!r}] is not positive semi-definite (smallest eigenvalue "
            f"{w.min():.3g}); give a valid covariance matrix in the array's units squared"
        )
    return c


def parameter_groups(
    profile: TransportProfile,
    include: Sequence[str] | None = None,
    covariance: Mapping[str, Any] | None = None,
) -> list[ParameterGroup]:
    """The uncertain parameters of ``profile``: one group per array (and species) with errors.

    Parameters
    ----------
    profile : TransportProfile
        Profile with ``*_err`` arrays (one standard error, the array's SI units).
    include : sequence of str, optional
        Arrays to propagate, from ``"diffusion"``, ``"diffusion_parallel"``,
        ``"concentration"`` (log-normal) and ``"free_energy"``, ``"potential"`` (normal).
        Default: ``diffusion``, ``diffusion_parallel``, ``free_energy``, ``potential``,
        those that the profile has errors (or a covariance) for.
    covariance : mapping, optional
        Full covariance over the grid of one array, replacing its independent per-bin
        errors: keys ``"name[species]"`` (e.g. ``"diffusion[Na+]"``) or ``"potential"``,
        values (n, n) matrices in the array's units squared.

    Returns
    -------
    list of ParameterGroup
        Bins with zero variance are left out; groups without any are dropped.

    Raises
    ------
    TypeError, ValueError
        Not a profile, unknown array names or covariance keys, bad covariance matrices,
        non-positive values where a log-normal array carries an error.
    """
    if not isinstance(profile, TransportProfile):
        raise TypeError(f"profile must be a TransportProfile, got {type(profile).__name__}")
    if isinstance(include, str):
        raise TypeError(f"include must be a list of array names, e.g. ['diffusion']: {include!r}")
    explicit = include is not None
    names = list(DEFAULT_INCLUDE if include is None else include)
    bad = [n for n in names if n not in SUPPORTED]
    if bad:
        raise ValueError(f"include: cannot propagate {bad}; choose from {list(SUPPORTED)}")
    covariance = dict(covariance or {})
    n = profile.z.size
    labels = []
    groups = []
    for name in names:
        data = getattr(profile, name)
        rows = (
            [(None, None)]
            if name == "potential"
            else [(sp, profile.index(sp)) for sp in profile.species]
        )
        for sp, k in rows:
            label = name if sp is None else f"{name}[{sp}]"
            labels.append(label)
            err = getattr(profile, f"{name}_err", None)
            if label in covariance:
                if data is None:
                    raise ValueError(f"covariance[{label!r}]: the profile has no {name!r} data")
                cov = _check_covariance(label, covariance[label], n)
            elif data is not None and err is not None:
                e = err if k is None else err[k]
                if np.any(e < 0):
                    raise ValueError(f"{name}_err must be >= 0 (a standard error)")
                cov = np.diag(np.asarray(e, dtype=float) ** 2)
            else:
                if explicit and data is None:
                    raise ValueError(f"include: the profile has no {name!r} data")
                continue
            values = data if k is None else data[k]
            bins = np.flatnonzero(np.diag(cov) > 0)
            if bins.size == 0:
                continue
            value = np.asarray(values[bins], dtype=float)
            log_ = name in LOG_NORMAL
            if log_ and np.any(value <= 0):
                raise ValueError(
                    f"{label}: values must be > 0 where an error is given (log-normal "
                    "sampling); give zero error for bins with zero concentration"
                )
            groups.append(ParameterGroup(name, sp, bins, value, cov[np.ix_(bins, bins)], log_))
    unknown = sorted(set(covariance) - set(labels))
    if unknown:
        raise ValueError(
            f"covariance: unknown keys {unknown}; use 'name[species]' of included arrays, "
            f"one of {labels}"
        )
    return groups


def _factor(cov: np.ndarray) -> np.ndarray:
    """A with A Aᵀ = cov for a symmetric positive semi-definite matrix."""
    w, v = np.linalg.eigh(cov)
    return v * np.sqrt(np.clip(w, 0.0, None))


def _draw(groups: list[ParameterGroup], n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """n draws of every group's values (list over groups of arrays (n, bins))."""
    out = []
    for g in groups:
        if g.log:
            mu, s2 = g.log_normal_parameters()
            x = np.exp(mu + rng.standard_normal((n, g.bins.size)) @ _factor(s2).T)
        else:
            x = g.value + rng.standard_normal((n, g.bins.size)) @ _factor(g.covariance).T
        out.append(x)
    return out


def _with_values(
    profile: TransportProfile, groups: list[ParameterGroup], values: list[np.ndarray]
) -> TransportProfile:
    """A copy of ``profile`` with the groups' bins set to ``values``."""
    changes: dict[str, np.ndarray] = {}
    for g, v in zip(groups, values, strict=True):
        arr = changes.setdefault(g.name, np.array(getattr(profile, g.name), dtype=float))
        if g.species is None:
            arr[g.bins] = v
        else:
            arr[profile.index(g.species), g.bins] = v
    return dataclasses.replace(profile, **changes)


def sample_profiles(
    profile: TransportProfile,
    n: int,
    *,
    seed: int = 0,
    include: Sequence[str] | None = None,
    covariance: Mapping[str, Any] | None = None,
) -> list[TransportProfile]:
    """``n`` profiles drawn within ``profile``'s errors (see :func:`parameter_groups`).

    Parameters
    ----------
    profile : TransportProfile
        The MD profile with its ``*_err`` arrays (SI).
    n : int
        Number of samples (> 0).
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    include, covariance
        As in :func:`parameter_groups`.

    Returns
    -------
    list of TransportProfile
        D, D∥, c log-normal (positive; the profile's mean and covariance); F, φ normal.
    """
    _check_int("n", n, 1)
    _check_int("seed", seed, 0)
    groups = parameter_groups(profile, include, covariance)
    draws = _draw(groups, n, np.random.default_rng(seed))
    return [_with_values(profile, groups, [d[s] for d in draws]) for s in range(n)]


# ---------------------------------------------------------------------------- propagation
def _check_int(name: str, value: Any, lowest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer >= {lowest}, got {value!r}")
    if value < lowest:
        raise ValueError(f"{name} must be an integer >= {lowest}, got {value}")
    return int(value)


def _evaluate(build: Build, profile: TransportProfile) -> dict[str, float]:
    """Build, solve if needed, and evaluate the outputs of one profile."""
    res = build(profile)
    if not (isinstance(res, tuple) and len(res) == 2 and isinstance(res[1], Mapping)):
        raise TypeError(
            "build(profile) must return (problem, outputs) with outputs a dict of names to "
            "numbers or to functions of the solved problem"
        )
    problem, outputs = res
    if not outputs:
        raise ValueError("build(profile) returned no outputs: name at least one")
    if any(callable(f) for f in outputs.values()) and not getattr(problem, "converged", True):
        problem.solve()
    out = {}
    for name, f in outputs.items():
        value = f(problem) if callable(f) else f
        try:
            out[str(name)] = float(value)
        except (TypeError, ValueError):
            raise TypeError(
                f"output {name!r} must be a number (or a function of the problem returning "
                f"one), got {type(value).__name__}"
            ) from None
    return out


def _percentile_bounds(x: np.ndarray, q: float) -> tuple[float, float]:
    """97.5 % confidence bounds (lower, upper) of the q-quantile of the samples ``x``.

    The wider of two estimates: order statistics (exact, binomial, for any distribution; but
    with fewer than ~170 samples the 2.5 % quantile has no sample far enough beyond it) and
    the asymptotic standard error of a sample quantile, sqrt(q(1−q)/n) / f(ξ_q), with the
    density f of a normal of the samples' mean and standard deviation (approximate: too
    narrow for skewed outputs).
    """
    from scipy.stats import binom, norm

    n = x.size
    xs = np.sort(x)
    # 97.5 % per end, so that both ends together hold with >= 95 %
    lo = int(binom.ppf(0.0125, n, q))  # number of samples below the quantile, 1.25 % point
    hi = int(binom.ppf(0.9875, n, q))
    lower, upper = float(xs[max(lo - 1, 0)]), float(xs[min(hi, n - 1)])
    sd = float(x.std(ddof=1)) if n > 1 else 0.0
    xq = float(np.quantile(x, q))
    if sd > 0:
        dens = norm.pdf((xq - x.mean()) / sd) / sd
        se = np.sqrt(q * (1 - q) / n) / dens
        z = float(norm.ppf(0.9875))
        lower, upper = min(lower, xq - z * se), max(upper, xq + z * se)
    return lower, upper


def propagate_uncertainty(
    profile: TransportProfile,
    build: Build,
    *,
    n_samples: int = 64,
    seed: int = 0,
    linear: bool = True,
    include: Sequence[str] | None = None,
    covariance: Mapping[str, Any] | None = None,
    step: float = 0.1,
    scheme: str = "central",
    level: float = 0.95,
    comm=None,
) -> UncertaintyResult:
    """Propagate the profile's errors to the outputs of a continuum problem.

    Parameters
    ----------
    profile : TransportProfile
        The MD profile with ``*_err`` arrays (standard errors, SI units).
    build : callable
        ``build(profile) -> (problem, outputs)``: a problem made from a (sampled) profile and
        a dict of output names to numbers or to functions ``f(problem) -> float`` of the
        solved problem (SI units of the output, e.g. a flux in mol m⁻² s⁻¹). A problem with
        ``converged`` False is solved here with ``problem.solve()``.
    n_samples : int
        Monte Carlo samples (≥ 0; 0: linearisation only). 64 gives the standard deviation to
        ~9 % (1σ).
    seed : int
        Seed of the sampling (≥ 0).
    linear : bool
        Also compute the linearised (finite-difference) propagation and its variance budget
        (2 solves per uncertain bin with ``scheme="central"``, 1 with ``"forward"``).
    include, covariance
        Arrays to propagate and optional full covariances, see :func:`parameter_groups`.
    step : float
        Finite-difference step as a fraction of each bin's standard error (dimensionless,
        0 < step ≤ 1), at least 1e-7 of the value; for positive arrays at most half of it.
    scheme : {"central", "forward"}
        Finite-difference scheme.
    level : float
        Confidence level of the intervals (0 < level < 1).
    comm : mpi4py communicator, optional
        Spread the independent solves over its ranks (``build`` must then make serial
        problems on ``MPI.COMM_SELF``). Default: every solve on the problem's own
        communicator, one after another (see the module notes).

    Returns
    -------
    UncertaintyResult

    Raises
    ------
    TypeError, ValueError
        Bad arguments (named); a profile without any error bars; ``build`` returning
        something else than ``(problem, outputs)``.
    ConvergenceError
        The nominal problem did not converge (failed samples are counted and left out; more
        than a quarter failing raises too).
    """
    if not callable(build):
        raise TypeError("build must be a function build(profile) -> (problem, outputs)")
    n_samples = _check_int("n_samples", n_samples, 0)
    seed = _check_int("seed", seed, 0)
    if not isinstance(linear, bool):
        raise TypeError(f"linear must be True or False, got {linear!r}")
    if not linear and n_samples == 0:
        raise ValueError("nothing to do: give n_samples > 0 or linear=True")
    if isinstance(step, bool) or not isinstance(step, int | float) or not 0 < step <= 1:
        raise ValueError(f"step must be a fraction of the standard error in (0, 1], got {step!r}")
    if scheme not in ("central", "forward"):
        raise ValueError(f"scheme must be 'central' or 'forward', got {scheme!r}")
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise ValueError(f"level must be a confidence level in (0, 1), e.g. 0.95, got {level!r}")
    groups = parameter_groups(profile, include, covariance)
    if not groups:
        raise ValueError(
            "the profile carries no error bars for "
            f"{list(DEFAULT_INCLUDE if include is None else include)}: set its *_err arrays "
            "(standard errors) or pass covariance="
        )

    # the tasks: the nominal profile, finite-difference pairs, samples (one list, task order)
    tasks: list[list[np.ndarray]] = [[g.value.copy() for g in groups]]
    fd_index: list[tuple[int, int, float]] = []  # (group, bin position, step in p)
    if linear:
        signs = (1.0, -1.0) if scheme == "central" else (1.0,)
        for gi, g in enumerate(groups):
            for j in range(g.bins.size):
                # a step resolved in floating point even for errors at round-off level
                h = max(step * float(g.sigma[j]), 1e-7 * abs(float(g.value[j])))
                if g.log:  # keep positive quantities positive
                    h = min(h, 0.5 * float(g.value[j]))
                fd_index.append((gi, j, h))
                for s in signs:
                    vals = [v.value.copy() for v in groups]
                    vals[gi][j] = g.value[j] + s * h
                    tasks.append(vals)
    n_fd = len(tasks) - 1
    rng = np.random.default_rng(seed)
    draws = _draw(groups, n_samples, rng) if n_samples else []
    for s in range(n_samples):
        tasks.append([d[s] for d in draws])

    # run (every task on every rank, or spread over comm)
    size = 1 if comm is None else comm.size
    rank = 0 if comm is None else comm.rank
    local: dict[int, dict[str, float] | None] = {}
    for t in range(len(tasks)):
        if t % size != rank:
            continue
        try:
            local[t] = _evaluate(build, _with_values(profile, groups, tasks[t]))
        except ConvergenceError as exc:
            if t <= n_fd:
                raise ConvergenceError(
                    f"the {'nominal' if t == 0 else 'finite-difference'} problem did not "
                    f"converge: {exc}",
                    exc.reason,
                    exc.iterations,
                ) from exc
            log.warning("uncertainty: sample %d did not converge (%s); left out", t - n_fd, exc)
            local[t] = None
    results = local
    if comm is not None and size > 1:
        results = {}
        for part in comm.allgather(local):
            results.update(part)
    names = list(results[0])
    for r in results.values():
        if r is not None and list(r) != names:
            raise ValueError(f"build returned different outputs for different profiles: {names} "
                             f"and {list(r)}")  # fmt: skip

    def vec(t: int) -> np.ndarray | None:
        r = results[t]
        return None if r is None else np.array([r[k] for k in names])

    y0 = vec(0)
    z = float(_normal_quantile(0.5 + level / 2))
    out = {k: OutputUncertainty(k, float(y0[i])) for i, k in enumerate(names)}

    # linearisation: gradient in x, variance g^T C g, budget per group and bin
    if linear:
        grads = [np.zeros((g.bins.size, len(names))) for g in groups]
        curv = [np.full((g.bins.size, len(names)), np.nan) for g in groups]
        t = 1
        for gi, j, h in fd_index:
            if scheme == "central":
                grads[gi][j] = (vec(t) - vec(t + 1)) / (2 * h)
                curv[gi][j] = (vec(t) - 2 * y0 + vec(t + 1)) / h**2
                t += 2
            else:
                grads[gi][j] = (vec(t) - y0) / h
                t += 1
        for i, k in enumerate(names):
            o = out[k]
            total = 0.0
            for g, gr in zip(groups, grads, strict=True):
                gi_ = gr[:, i]
                # sums to g^T C g; = g_i^2 sigma_i^2 for independent bins
                per_bin = gi_ * (g.covariance @ gi_)
                o.bin_contributions[g.label] = per_bin
                o.contributions[g.label] = float(per_bin.sum())
                total += float(per_bin.sum())
            o.contributions = dict(sorted(o.contributions.items(), key=lambda kv: -kv[1]))
            o.linear_std = float(np.sqrt(max(total, 0.0)))
            diagonal = all(np.count_nonzero(g.covariance - np.diag(np.diag(g.covariance))) == 0
                           for g in groups)  # fmt: skip
            if diagonal:
                bias = sum(0.5 * float(np.sum(c[:, i] * np.diag(g.covariance)))
                           for g, c in zip(groups, curv, strict=True))  # fmt: skip
                o.second_order_mean = o.value + bias  # NaN for forward differences
                if np.isfinite(bias):
                    o.near_linear = bool(abs(bias) <= 0.1 * o.linear_std)
            o.linear_interval = (o.value - z * o.linear_std, o.value + z * o.linear_std)
            # no dominant source of a spread at round-off level
            if o.contributions and o.linear_std > 1e-12 * abs(o.value):
                o.dominant = next(iter(o.contributions))
                dom = next(gr for gr in groups if gr.label == o.dominant)
                o.dominant_bin = int(dom.bins[int(np.argmax(o.bin_contributions[o.dominant]))])

    # Monte Carlo statistics
    ok = [vec(t) for t in range(1 + n_fd, len(tasks)) if results[t] is not None]
    n_failed = n_samples - len(ok)
    samples = np.array(ok).reshape(len(ok), len(names))
    if n_samples:
        if n_failed > n_samples / 4:
            raise ConvergenceError(
                f"{n_failed} of {n_samples} Monte Carlo samples did not converge: the problem is "
                "too sensitive to the profile's errors for sampling (check the errors or the "
                "solver settings)"
            )
        m = samples.shape[0]
        qa, qb = 0.5 - level / 2, 0.5 + level / 2
        for i, k in enumerate(names):
            o = out[k]
            x = samples[:, i]
            o.mean = float(x.mean())
            o.std = float(x.std(ddof=1)) if m > 1 else float("nan")
            o.mean_err = o.std / np.sqrt(m)
            o.std_err = o.std / np.sqrt(2 * (m - 1)) if m > 1 else float("nan")
            o.interval = (float(np.quantile(x, qa)), float(np.quantile(x, qb)))
            o.interval_bounds = (_percentile_bounds(x, qa)[0], _percentile_bounds(x, qb)[1])
            if linear and m > 1:
                ref = o.second_order_mean if np.isfinite(o.second_order_mean) else o.value
                if o.std_err > 0:
                    o.std_z_score = float((o.std - o.linear_std) / o.std_err)
                    o.consistent = bool(
                        abs(o.std_z_score) <= 3 and abs(o.mean - ref) <= 3 * o.mean_err
                    )
                else:  # no spread at all: consistent when the linearisation says so too
                    o.std_z_score = 0.0 if o.linear_std <= 1e-12 * abs(o.value) else np.inf
                    o.consistent = o.std_z_score == 0.0
    return UncertaintyResult(
        outputs=out,
        groups=groups,
        samples=samples,
        n_samples=n_samples,
        n_failed=n_failed,
        n_solves=len(tasks),
        level=float(level),
        seed=seed,
    )


def _normal_quantile(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))
