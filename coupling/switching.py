"""Switching functions for QM/ML force mixing, with verified order of continuity.

A switching function ``s(x)`` on ``x`` in [0, 1] takes an atom's weight from 1 (at the inner
edge of the switching shell, ``x = 0``) to 0 (at the outer edge, ``x = 1``). Outside [0, 1] it
is continued by constants (1 below, 0 above). A switching function is C\\ :sup:`k` if ``s``
and its first ``k`` derivatives are continuous everywhere, i.e. ``s(0) = 1``, ``s(1) = 0`` and
``s^(m)(0) = s^(m)(1) = 0`` for ``m = 1 .. k``. Built in:

========== ============================================== =====
name       s(x)                                           order
========== ============================================== =====
"cubic"    1 - 3x² + 2x³  (smoothstep)                    C1
"quintic"  1 - 10x³ + 15x⁴ - 6x⁵  (smootherstep)          C2
"septic"   1 - 35x⁴ + 84x⁵ - 70x⁶ + 20x⁷                  C3
"cosine"   (1 + cos πx) / 2                               C1
"linear"   1 - x                                          C0
"step"     1 for x < 1/2, else 0  (abrupt; for comparison) C-1
========== ============================================== =====

The polynomials are the unique lowest-degree ones with the stated end conditions (the
regularised incomplete beta function :math:`1 - I_x(k+1, k+1)`).

Every :class:`SwitchingFunction` checks its own claims when it is constructed: the end
values, the vanishing of the derivatives up to its order at both ends (by the scaling of
``|s(h) - s(0)|`` and ``|s(1 - h)|`` as ``h^(k+1)``), that the supplied derivative agrees with a
finite difference of the value, and that values stay in [0, 1]. A function that fails is
refused with a :class:`ValueError` that says which condition failed.

Why hand-written: no library offers switching functions with verified continuity; each is
a one-line polynomial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SWITCHING_FUNCTIONS", "SwitchingFunction", "get_switching"]

ArrayFunc = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SwitchingFunction:
    """A switching function s(x) with its analytic derivative and continuity order.

    Parameters
    ----------
    name : str
        Label used in results and plots.
    value : callable
        ``value(x) -> s(x)`` for an array ``x`` in [0, 1] (dimensionless).
    derivative : callable
        ``derivative(x) -> ds/dx`` for an array ``x`` in [0, 1]; must be the exact derivative.
    order : int
        Claimed continuity order k (``-1``: discontinuous, ``0``: continuous value, ``1``: C1,
        ...). Verified at construction.
    verify : bool
        Check the claims at construction (default True). Leave it on.

    Raises
    ------
    ValueError
        If ``s(0) != 1``, ``s(1) != 0``, a derivative up to ``order`` does not vanish at an
        end, ``derivative`` is not the derivative of ``value``, or a value leaves [0, 1].
    """

    name: str
    value: ArrayFunc = field(repr=False)
    derivative: ArrayFunc = field(repr=False)
    order: int
    verify: bool = field(default=True, repr=False)

    def __post_init__(self) -> None:
        if not callable(self.value) or not callable(self.derivative):
            raise TypeError("value and derivative of a SwitchingFunction must be callables")
        if isinstance(self.order, bool) or not isinstance(self.order, int | np.integer):
            raise TypeError(f"order must be an integer, got {self.order!r}")
        if self.order < -1:
            raise ValueError(f"order must be >= -1, got {self.order}")
        if self.verify:
            self._verify()

    # ------------------------------------------------------------------ evaluation
    def __call__(self, x: np.ndarray | float) -> np.ndarray:
        """Return s(x), continued by 1 for x <= 0 and by 0 for x >= 1."""
        x = np.asarray(x, dtype=float)
        if np.isnan(x).any():
            raise ValueError(f"switching function {self.name!r}: x must not be NaN")
        out = np.where(x <= 0.0, 1.0, 0.0)
        inside = (x > 0.0) & (x < 1.0)
        if np.any(inside):
            out = out.astype(float)
            out[inside] = np.asarray(self.value(x[inside]), dtype=float)
        return out

    def deriv(self, x: np.ndarray | float) -> np.ndarray:
        """Return ds/dx, zero outside (0, 1)."""
        x = np.asarray(x, dtype=float)
        if np.isnan(x).any():
            raise ValueError(f"switching function {self.name!r}: x must not be NaN")
        out = np.zeros_like(x)
        inside = (x > 0.0) & (x < 1.0)
        if np.any(inside):
            out[inside] = np.asarray(self.derivative(x[inside]), dtype=float)
        return out

    # ------------------------------------------------------------------ verification
    def _verify(self) -> None:
        k = int(self.order)
        for what, func in (("value", self.value), ("derivative", self.derivative)):
            out = np.asarray(func(np.linspace(0.0, 1.0, 5)), dtype=float)
            if out.shape != (5,) or not np.all(np.isfinite(out)):
                raise ValueError(
                    f"switching function {self.name!r}: {what}(x) must return one finite "
                    f"number per element of the array x, got {out!r} for 5 points"
                )
        ends = np.array([0.0, 1.0])
        s_end = np.asarray(self.value(ends), dtype=float)
        if not np.allclose(s_end, [1.0, 0.0], atol=1e-12):
            raise ValueError(
                f"switching function {self.name!r}: needs s(0) = 1 and s(1) = 0, got "
                f"s(0) = {s_end[0]:.6g}, s(1) = {s_end[1]:.6g}"
            )
        grid = np.linspace(0.0, 1.0, 401)
        s = np.asarray(self.value(grid), dtype=float)
        if s.min() < -1e-12 or s.max() > 1 + 1e-12:
            raise ValueError(
                f"switching function {self.name!r}: values must stay in [0, 1] (they are "
                f"weights), found range [{s.min():.4g}, {s.max():.4g}]"
            )
        if k >= 0:
            # the supplied derivative must be the derivative of the value (where s is smooth)
            x = np.linspace(0.05, 0.95, 19)
            h = 1e-6
            fd = (np.asarray(self.value(x + h)) - np.asarray(self.value(x - h))) / (2 * h)
            an = np.asarray(self.derivative(x), dtype=float)
            scale = max(1.0, float(np.abs(fd).max()))
            if np.abs(fd - an).max() > 1e-5 * scale:
                i = int(np.argmax(np.abs(fd - an)))
                raise ValueError(
                    f"switching function {self.name!r}: derivative disagrees with a finite "
                    f"difference of the value at x = {x[i]:.3f} ({an[i]:.6g} vs {fd[i]:.6g})"
                )
        if k >= 1:
            # C^k at the ends: s(h) - 1 and s(1 - h) vanish as h^(k+1), s'(h) as h^k
            h1, h2 = 1e-2, 5e-3
            for end, ref in ((0.0, 1.0), (1.0, 0.0)):
                sign = 1.0 if end == 0.0 else -1.0
                d1 = abs(float(self.value(np.array([end + sign * h1]))[0]) - ref)
                d2 = abs(float(self.value(np.array([end + sign * h2]))[0]) - ref)
                g1 = abs(float(self.derivative(np.array([end + sign * h1]))[0]))
                g2 = abs(float(self.derivative(np.array([end + sign * h2]))[0]))
                for what, a, b, power in (("s", d1, d2, k + 1), ("ds/dx", g1, g2, k)):
                    if a < 1e-13:
                        continue
                    rate = np.log2(a / max(b, 1e-300))
                    if rate < power - 0.15:
                        raise ValueError(
                            f"switching function {self.name!r} claims C{k} but is not: near "
                            f"x = {end:g}, {what} - {what}({end:g}) falls as h^{rate:.2f}, "
                            f"needs h^{power} (derivatives up to order {k} must vanish at "
                            "both ends); lower `order` or fix the function"
                        )

    def continuity_order(self) -> int:
        """Return the verified continuity order k (the function is C^k)."""
        return int(self.order)


def _poly(coeffs: list[float]) -> tuple[ArrayFunc, ArrayFunc]:
    """Return value and derivative of the polynomial sum_n coeffs[n] x^n."""
    c = np.polynomial.Polynomial(coeffs)
    dc = c.deriv()
    return (lambda x: c(x)), (lambda x: dc(x))


def _builtin() -> dict[str, SwitchingFunction]:
    cubic = _poly([1.0, 0.0, -3.0, 2.0])
    quintic = _poly([1.0, 0.0, 0.0, -10.0, 15.0, -6.0])
    septic = _poly([1.0, 0.0, 0.0, 0.0, -35.0, 84.0, -70.0, 20.0])
    linear = _poly([1.0, -1.0])
    return {
        "cubic": SwitchingFunction("cubic", *cubic, order=1),
        "quintic": SwitchingFunction("quintic", *quintic, order=2),
        "septic": SwitchingFunction("septic", *septic, order=3),
        "cosine": SwitchingFunction(
            "cosine",
            lambda x: 0.5 * (1.0 + np.cos(np.pi * x)),
            lambda x: -0.5 * np.pi * np.sin(np.pi * x),
            order=1,
        ),
        "linear": SwitchingFunction("linear", *linear, order=0),
        "step": SwitchingFunction(
            "step",
            lambda x: np.where(np.asarray(x) < 0.5, 1.0, 0.0),
            lambda x: np.zeros_like(np.asarray(x, dtype=float)),
            order=-1,
        ),
    }


#: The built-in switching functions by name.
SWITCHING_FUNCTIONS: dict[str, SwitchingFunction] = _builtin()


def get_switching(spec: str | SwitchingFunction) -> SwitchingFunction:
    """Return a switching function by name, or ``spec`` itself if it is one.

    Parameters
    ----------
    spec : str or SwitchingFunction
        A name in :data:`SWITCHING_FUNCTIONS` (``"cubic"``, ``"quintic"``, ``"septic"``,
        ``"cosine"``, ``"linear"``, ``"step"``) or a :class:`SwitchingFunction`.

    Returns
    -------
    SwitchingFunction
    """
    if isinstance(spec, SwitchingFunction):
        return spec
    if isinstance(spec, str):
        try:
            return SWITCHING_FUNCTIONS[spec.lower()]
        except KeyError:
            raise ValueError(
                f"unknown switching function {spec!r}; choose one of "
                f"{sorted(SWITCHING_FUNCTIONS)} or pass a SwitchingFunction"
            ) from None
    raise TypeError(f"switching must be a name or a SwitchingFunction, got {type(spec).__name__}")
