"""Initial-guess extrapolation of SCF density matrices along a trajectory.

Between two MD steps the geometry moves by ~0.01 Å, so the converged density of the
previous steps predicts the next one well. We use the predictor of Kolafa's
*always stable predictor-corrector* (ASPC) [Kolafa2004]_:

.. math::

    P^{\\mathrm{p}}_{n+1} = \\sum_{j=1}^{K+2} B_j P_{n+1-j},\\qquad
    B_j = (-1)^{j+1}\\, j\\, \\binom{2K+4}{K+2-j} \\Big/ \\binom{2K+2}{K+1},

whose coefficients sum to one (so a stationary density is reproduced), which is exact for
a density changing linearly in time, and which Kolafa chose so that the predictor-corrector
is time-reversible to order 2K+2 and stable (for K=0: linear extrapolation ``2P_n - P_{n-1}``).
The predicted density is only the *starting guess*: the SCF is always converged to
``conv_tol`` afterwards, so the energy and forces do not depend on the extrapolation.

Why hand-written: PySCF keeps no density history between geometries and ASE has no SCF
guess machinery; the formula is a few lines.

.. [Kolafa2004] J. Kolafa, J. Comput. Chem. 25, 335 (2004), doi:10.1002/jcc.10385.
"""

from __future__ import annotations

from collections import deque
from math import comb

import numpy as np

__all__ = ["DensityHistory", "aspc_coefficients"]


def aspc_coefficients(k: int) -> np.ndarray:
    """Return Kolafa's ASPC predictor coefficients for order ``k``.

    Parameters
    ----------
    k : int
        ASPC order (``k >= 0``); the predictor uses ``k + 2`` previous densities.

    Returns
    -------
    numpy.ndarray
        ``B_1 ... B_{k+2}``, to be applied to the newest, second newest, ... density.
        They sum to one.
    """
    if k < 0:
        raise ValueError(f"ASPC order must be >= 0, got {k}")
    denom = comb(2 * k + 2, k + 1)
    return np.array(
        [(-1) ** (j + 1) * j * comb(2 * k + 4, k + 2 - j) / denom for j in range(1, k + 3)]
    )


class DensityHistory:
    """Converged AO density matrices of the last few geometries.

    Parameters
    ----------
    mode : {"aspc", "reuse", "none"}
        ``"aspc"``: Kolafa predictor on up to ``order + 2`` stored densities (lower orders
        while the history fills); ``"reuse"``: the last converged density; ``"none"``:
        no guess (PySCF's default atomic guess every time).
    order : int
        ASPC order ``K``.
    max_step : float
        Largest displacement of any atom (Å) between consecutive geometries for which the
        history is trusted; a larger jump (a new configuration, not an MD step) clears it.
    """

    def __init__(self, mode: str = "aspc", order: int = 2, max_step: float = 0.3) -> None:
        if mode not in ("aspc", "reuse", "none"):
            raise ValueError(f"guess mode must be 'aspc', 'reuse' or 'none', got {mode!r}")
        if order < 0:
            raise ValueError(f"ASPC order must be >= 0, got {order}")
        self.mode = mode
        self.order = order
        self.max_step = max_step
        self._dms: deque[np.ndarray] = deque(maxlen=order + 2)
        self._key: tuple | None = None
        self._last_positions: np.ndarray | None = None

    def clear(self) -> None:
        """Forget all stored densities."""
        self._dms.clear()
        self._key = None
        self._last_positions = None

    def __len__(self) -> int:
        return len(self._dms)

    def _compatible(self, key: tuple, positions: np.ndarray) -> bool:
        if self._key != key or self._last_positions is None:
            return False
        step = np.max(np.linalg.norm(positions - self._last_positions, axis=1))
        return bool(step <= self.max_step)

    def guess(self, key: tuple, positions: np.ndarray) -> np.ndarray | None:
        """Return the predicted density for a new geometry, or ``None``.

        Parameters
        ----------
        key : tuple
            Identifies the electronic problem (atomic numbers, charge, spin, basis, method);
            densities of another problem are never used.
        positions : numpy.ndarray
            New positions (Å), shape ``(n_atoms, 3)``.
        """
        if self.mode == "none" or not self._dms:
            return None
        if not self._compatible(key, positions):
            self.clear()
            return None
        if self.mode == "reuse" or len(self._dms) == 1:
            return self._dms[-1]
        k = min(self.order, len(self._dms) - 2)
        coeffs = aspc_coefficients(k)
        newest_first = list(reversed(self._dms))[: k + 2]
        return sum(c * dm for c, dm in zip(coeffs, newest_first, strict=True))

    def push(self, key: tuple, positions: np.ndarray, dm: np.ndarray) -> None:
        """Store the converged density ``dm`` of geometry ``positions`` (Å)."""
        if self.mode == "none":
            return
        if not self._compatible(key, positions) and self._dms:
            self.clear()
        self._key = key
        self._last_positions = np.array(positions, copy=True)
        self._dms.append(np.array(dm, copy=True))
