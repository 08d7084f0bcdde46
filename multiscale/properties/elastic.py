"""Elastic constants from the stress of small homogeneous strains (any ASE calculator).

For each of the six Voigt strain components ε_j (xx, yy, zz, yz, xz, xy; shears as engineering
strains γ = 2ε) the cell is strained by ± a few magnitudes δ, the ions are optionally relaxed,
and the stress σ_i(δ) is fitted with a straight line, σ_i = C_ij δ + σ_i⁰. The slopes form the
6×6 Voigt matrix C (symmetrised; the asymmetry is reported), the rms residual of the fits
measures non-linearity and noise. Stability follows Born: C positive definite (for cubic
crystals C11 − C12 > 0, C11 + 2 C12 > 0, C44 > 0). Bulk and shear moduli are the Voigt,
Reuss and Hill (their mean) averages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units

from ._common import check_atoms, new_figure, pick_calculator, relax, save_figure

__all__ = ["ElasticResult", "elastic_constants", "strain_cell", "voigt_reuss_hill"]

VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
LABELS = ("xx", "yy", "zz", "yz", "xz", "xy")


def strain_cell(atoms: Atoms, voigt: Sequence[float]) -> Atoms:
    """Return a copy of ``atoms`` under the homogeneous strain ``voigt`` (atoms move with it).

    Parameters
    ----------
    atoms : ase.Atoms
        The reference crystal (cell in Å).
    voigt : sequence of 6 floats
        Strain (dimensionless) in Voigt order xx, yy, zz, yz, xz, xy; the last three are
        engineering shear strains γ = 2 ε_ij.
    """
    v = np.asarray(voigt, dtype=float)
    if v.shape != (6,):
        raise ValueError(f"voigt must have 6 components (xx, yy, zz, yz, xz, xy), got {voigt!r}")
    eps = np.zeros((3, 3))
    for k, (i, j) in enumerate(VOIGT):
        eps[i, j] = eps[j, i] = v[k] if i == j else v[k] / 2
    out = atoms.copy()
    out.calc = atoms.calc
    out.set_cell(np.asarray(atoms.cell) @ (np.eye(3) + eps), scale_atoms=True)
    return out


def voigt_reuss_hill(C: np.ndarray) -> dict[str, float]:
    """Voigt, Reuss and Hill bulk (K) and shear (G) moduli of a 6×6 stiffness matrix.

    Parameters
    ----------
    C : (6, 6) array
        Stiffness in Voigt notation (any unit; the moduli come out in the same unit).

    Returns
    -------
    dict
        ``K_V, K_R, K_H, G_V, G_R, G_H`` (NaN for the Reuss bounds when C is singular).
    """
    C = np.asarray(C, dtype=float)
    kv = (C[0, 0] + C[1, 1] + C[2, 2] + 2 * (C[0, 1] + C[1, 2] + C[0, 2])) / 9
    gv = (
        C[0, 0]
        + C[1, 1]
        + C[2, 2]
        - (C[0, 1] + C[1, 2] + C[0, 2])
        + 3 * (C[3, 3] + C[4, 4] + C[5, 5])
    ) / 15
    try:
        S = np.linalg.inv(C)
        kr = 1 / (S[0, 0] + S[1, 1] + S[2, 2] + 2 * (S[0, 1] + S[1, 2] + S[0, 2]))
        gr = 15 / (
            4 * (S[0, 0] + S[1, 1] + S[2, 2])
            - 4 * (S[0, 1] + S[1, 2] + S[0, 2])
            + 3 * (S[3, 3] + S[4, 4] + S[5, 5])
        )
    except np.linalg.LinAlgError:
        kr = gr = float("nan")
    out = {"K_V": kv, "K_R": kr, "K_H": (kv + kr) / 2, "G_V": gv, "G_R": gr, "G_H": (gv + gr) / 2}
    return {k: float(v) for k, v in out.items()}


@dataclass
class ElasticResult:
    """Elastic constants of a crystal from stress–strain fits.

    Attributes
    ----------
    C : (6, 6) ndarray
        Stiffness matrix in Voigt notation, GPa (symmetrised).
    C_raw : (6, 6) ndarray
        The fitted slopes before symmetrisation, GPa (row: stress, column: strain).
    residual_GPa : float
        Root-mean-square residual of all the linear fits, GPa.
    asymmetry_GPa : float
        max |C_ij − C_ji| of the raw fit, GPa.
    residual_stress_GPa : (6,) ndarray
        Stress of the unstrained reference, GPa: large values mean the structure was not
        relaxed and C contains pre-stress terms.
    intercepts_GPa : (6, 6) ndarray
        Intercepts of the linear fits (stress component, strain component), GPa; they differ
        from the residual stress by the averaged second-order (non-linear) terms.
    strains : ndarray
        The strain magnitudes used (dimensionless).
    stresses : (6, n_strain, 6) ndarray
        Stress (GPa) for strain component j, magnitude k, stress component i.
    volume : float
        Volume of the reference cell, Å³.
    symmetry : str
        ``"cubic"`` when C has the cubic pattern within ``tolerance_GPa``, else ``"general"``.
    born_criteria : dict
        Each Born criterion (name -> value in GPa, positive when satisfied).
    born_stable : bool
        All Born criteria hold (C positive definite).
    moduli : dict
        Voigt–Reuss–Hill bulk and shear moduli, GPa (:func:`voigt_reuss_hill`).
    converged : bool
        Every ionic relaxation converged (True when no relaxation was done).
    secant_GPa : dict
        For each magnitude δ measured with both signs, the secant stiffness
        [σ(+δ) − σ(−δ)] / 2δ (6×6, GPa); their spread shows how far C depends on the strain
        range (a model whose stress–strain curve is not smooth).
    secant_spread_GPa : float
        Largest spread (max − min over δ) of any secant entry, GPa (0 with one magnitude).
    """

    C: np.ndarray
    C_raw: np.ndarray
    residual_GPa: float
    asymmetry_GPa: float
    residual_stress_GPa: np.ndarray
    intercepts_GPa: np.ndarray
    strains: np.ndarray
    stresses: np.ndarray
    volume: float
    symmetry: str
    born_criteria: dict[str, float]
    born_stable: bool
    moduli: dict[str, float]
    converged: bool = True
    tolerance_GPa: float = 1.0
    secant_GPa: dict[float, np.ndarray] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def secant_spread_GPa(self) -> float:
        """Largest spread of the secant stiffnesses over the strain magnitudes, GPa."""
        if len(self.secant_GPa) < 2:
            return 0.0
        stack = np.array(list(self.secant_GPa.values()))
        return float(np.max(np.ptp(stack, axis=0)))

    @property
    def C11(self) -> float:
        """C11 (GPa), averaged over the three cubic-equivalent entries."""
        return float(np.mean(np.diag(self.C)[:3]))

    @property
    def C12(self) -> float:
        """C12 (GPa), averaged over C12, C13, C23."""
        return float(np.mean([self.C[0, 1], self.C[0, 2], self.C[1, 2]]))

    @property
    def C44(self) -> float:
        """C44 (GPa), averaged over C44, C55, C66."""
        return float(np.mean(np.diag(self.C)[3:]))

    @property
    def bulk_modulus(self) -> float:
        """Hill bulk modulus, GPa."""
        return float(self.moduli["K_H"])

    @property
    def shear_modulus(self) -> float:
        """Hill shear modulus, GPa."""
        return float(self.moduli["G_H"])

    @property
    def ok(self) -> bool:
        """Born stable, relaxations converged and the fits linear (residual < tolerance)."""
        return self.born_stable and self.converged and self.residual_GPa < self.tolerance_GPa

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (GPa)."""
        return {
            "C_GPa": self.C,
            "C11": self.C11,
            "C12": self.C12,
            "C44": self.C44,
            "symmetry": self.symmetry,
            "residual_GPa": self.residual_GPa,
            "asymmetry_GPa": self.asymmetry_GPa,
            "residual_stress_GPa": self.residual_stress_GPa,
            "strains": self.strains,
            "born_criteria": self.born_criteria,
            "born_stable": self.born_stable,
            "moduli_GPa": self.moduli,
            "converged": self.converged,
            "ok": self.ok,
            "volume_A3": self.volume,
            "secant_spread_GPa": self.secant_spread_GPa,
            "secant_C11_C12_C44_GPa": {
                str(k): [
                    float(np.mean(np.diag(v)[:3])),
                    float(np.mean([v[0, 1], v[0, 2], v[1, 2]])),
                    float(np.mean(np.diag(v)[3:])),
                ]
                for k, v in self.secant_GPa.items()
            },
        }

    def plot(self, path: str | Path) -> Path:
        """Stress against strain for each strain component, with the fitted lines (PNG)."""
        fig, axes = new_figure(2, 3, figsize=(11, 6), sharex=True)
        x = np.linspace(self.strains.min(), self.strains.max(), 20)
        for j, ax in enumerate(axes.flat):
            for i in range(6):
                y = self.stresses[j, :, i]
                if np.max(np.abs(y)) < 1e-3 * max(1.0, np.max(np.abs(self.stresses))):
                    continue
                (line,) = ax.plot(self.strains, y, "o", label=f"σ_{LABELS[i]}")
                ax.plot(
                    x,
                    self.C_raw[i, j] * x + self.intercepts_GPa[i, j],
                    "-",
                    color=line.get_color(),
                    lw=1,
                )
            ax.set_title(f"strain ε_{LABELS[j]}" + (" (γ)" if j >= 3 else ""))
            ax.set_xlabel("strain")
            ax.set_ylabel("stress (GPa)")
            ax.legend(fontsize=7)
        fig.suptitle(
            f"C11 = {self.C11:.1f}, C12 = {self.C12:.1f}, C44 = {self.C44:.1f} GPa; "
            f"fit rms residual {self.residual_GPa:.2g} GPa"
        )
        return save_figure(fig, path)


def _is_cubic(C: np.ndarray, tol: float) -> bool:
    d, off, s = np.diag(C)[:3], [C[0, 1], C[0, 2], C[1, 2]], np.diag(C)[3:]
    rest = [C[i, j] for i in range(6) for j in range(6) if i != j and (i >= 3 or j >= 3)]
    return bool(
        np.ptp(d) < tol and np.ptp(off) < tol and np.ptp(s) < tol and np.max(np.abs(rest)) < tol
    )


def elastic_constants(
    atoms: Atoms,
    calc: Any = None,
    *,
    strains: Sequence[float] = (-0.01, -0.005, 0.005, 0.01),
    relax_ions: bool | None = None,
    fmax: float = 1e-3,
    tolerance_GPa: float = 1.0,
) -> ElasticResult:
    """Elastic constants from the stress under small strains.

    The structure should be relaxed first (cell and positions); otherwise the residual stress
    (reported) adds pre-stress terms to C.

    Parameters
    ----------
    atoms : ase.Atoms
        Periodic crystal, cell in Å, in its reference (relaxed) state.
    calc : ase calculator, optional
        Any ASE calculator that gives the stress (default: ``atoms.calc``).
    strains : sequence of float
        Strain magnitudes δ (dimensionless), both signs recommended (e.g. ±0.5 %, ±1 %);
        at least two distinct non-zero values, each |δ| <= 0.05.
    relax_ions : bool, optional
        Relax the ions at each strain (relaxed-ion constants; needed with more than one atom
        per primitive cell). Default: only when the cell holds more than one atom.
    fmax : float
        Force threshold of the ionic relaxation, eV/Å.
    tolerance_GPa : float
        Tolerance (GPa) for recognising the cubic pattern and for ``ok`` (fit residual).

    Returns
    -------
    ElasticResult

    Raises
    ------
    ValueError
        Non-periodic atoms, no calculator, or unusable strains.
    """
    atoms = check_atoms(atoms)
    calc = pick_calculator(atoms, calc)
    d = np.asarray(strains, dtype=float)
    if d.ndim != 1 or len(np.unique(d)) < 2 or np.any(d == 0) or np.any(np.abs(d) > 0.05):
        raise ValueError(
            f"strains must be at least two distinct non-zero magnitudes with |strain| <= 0.05 "
            f"(e.g. (-0.01, -0.005, 0.005, 0.01)), got {strains!r}"
        )
    if relax_ions is None:
        relax_ions = len(atoms) > 1
    atoms.calc = calc
    sigma0 = atoms.get_stress(voigt=True) / units.GPa
    converged = True
    stresses = np.zeros((6, len(d), 6))
    for j in range(6):
        for k, delta in enumerate(d):
            voigt = np.zeros(6)
            voigt[j] = delta
            strained = strain_cell(atoms, voigt)
            if relax_ions:
                strained, ok = relax(strained, calc, fmax=fmax)
                converged &= ok
            strained.calc = calc
            stresses[j, k] = strained.get_stress(voigt=True) / units.GPa
    C_raw = np.zeros((6, 6))
    intercept = np.zeros((6, 6))
    residuals = []
    A = np.vstack([d, np.ones_like(d)]).T
    for j in range(6):
        coef, *_ = np.linalg.lstsq(A, stresses[j], rcond=None)
        C_raw[:, j], intercept[:, j] = coef
        residuals.append(stresses[j] - A @ coef)
    residual = float(np.sqrt(np.mean(np.square(residuals))))
    secant = {}
    for k, delta in enumerate(d):
        if delta > 0 and np.any(np.isclose(d, -delta)):
            m = int(np.flatnonzero(np.isclose(d, -delta))[0])
            sec = (stresses[:, k, :] - stresses[:, m, :]).T / (2 * delta)
            secant[float(delta)] = (sec + sec.T) / 2
    C = (C_raw + C_raw.T) / 2
    symmetry = "cubic" if _is_cubic(C, tolerance_GPa) else "general"
    eig = np.linalg.eigvalsh(C)
    criteria = {f"eigenvalue_{i + 1}": float(e) for i, e in enumerate(eig)}
    if symmetry == "cubic":
        c11, c12, c44 = (
            np.mean(np.diag(C)[:3]),
            np.mean([C[0, 1], C[0, 2], C[1, 2]]),
            np.mean(np.diag(C)[3:]),
        )
        criteria.update(
            {"C11-C12": float(c11 - c12), "C11+2C12": float(c11 + 2 * c12), "C44": float(c44)}
        )
    return ElasticResult(
        C=C,
        C_raw=C_raw,
        residual_GPa=residual,
        asymmetry_GPa=float(np.max(np.abs(C_raw - C_raw.T))),
        residual_stress_GPa=sigma0,
        intercepts_GPa=intercept,
        strains=d,
        stresses=stresses,
        volume=float(atoms.get_volume()),
        symmetry=symmetry,
        born_criteria=criteria,
        born_stable=bool(all(v > 0 for v in criteria.values())),
        moduli=voigt_reuss_hill(C),
        converged=bool(converged),
        tolerance_GPa=tolerance_GPa,
        secant_GPa=secant,
    )
