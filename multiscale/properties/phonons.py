"""Harmonic phonons with phonopy (finite displacements) for any ASE calculator.

Force constants come from phonopy's symmetry-reduced finite displacements of a supercell;
the dispersion runs along ASE's standard high-symmetry path of the given cell
(:meth:`ase.cell.Cell.bandpath`, Setyawan–Curtarolo), the density of states and the
thermodynamics (heat capacity C_V, vibrational free energy F, entropy S) from a Γ-centred
mesh. Imaginary frequencies (phonopy returns them as negative numbers) are reported as an
instability, with the q-points where they occur, never dropped. The supercell convergence
is measured by comparing the frequencies of two supercells at a few q-points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units

from ._common import check_atoms, new_figure, pick_calculator, positive, save_figure

__all__ = ["PhononResult", "phonons", "supercell_convergence"]

#: q-points (reduced, of the given cell) where supercell convergence is checked by default
DEFAULT_CHECK_Q = ((0.5, 0.0, 0.0), (0.5, 0.5, 0.0), (0.5, 0.5, 0.5), (0.25, 0.0, 0.0))


def _supercell(value: Any, name: str) -> tuple[int, int, int]:
    if (
        not isinstance(value, Sequence)
        or len(value) != 3
        or not all(
            isinstance(n, int | np.integer) and not isinstance(n, bool) and n > 0 for n in value
        )
    ):
        raise ValueError(f"{name} must be three positive integers (e.g. (3, 3, 3)), got {value!r}")
    return tuple(int(n) for n in value)


def _phonopy(atoms: Atoms, calc: Any, supercell: tuple[int, int, int], displacement: float):
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    unit = PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(),
        cell=np.asarray(atoms.cell),
        scaled_positions=atoms.get_scaled_positions(),
        masses=atoms.get_masses(),
    )
    ph = Phonopy(unit, supercell_matrix=np.diag(supercell), primitive_matrix=None)
    ph.generate_displacements(distance=displacement)
    forces = []
    for sc in ph.supercells_with_displacements:
        image = Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)
        image.set_masses(sc.masses)
        image.calc = calc
        f = image.get_forces()
        forces.append(f - f.mean(axis=0))  # remove the drift (translational invariance)
    ph.forces = np.array(forces)
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    return ph


def _frequencies(ph, qpoints: np.ndarray) -> np.ndarray:
    ph.run_qpoints(np.asarray(qpoints, dtype=float))
    return np.asarray(ph.qpoints.frequencies)


@dataclass
class PhononResult:
    """Phonons of a crystal.

    Attributes
    ----------
    supercell : tuple of int
        Supercell (multiples of the given cell) of the force constants.
    n_displacements : int
        Number of displaced supercells computed.
    path : str
        The high-symmetry path (ASE notation, e.g. ``"GXWKGLUWLK,UX"``).
    distances : ndarray
        Position along the path (1/Å, ASE's linear axis) of each q-point.
    special_x, special_labels : ndarray, list of str
        Positions and labels of the special points on that axis.
    qpoints : (n, 3) ndarray
        q-points along the path, reduced coordinates of the cell's reciprocal lattice.
    band_frequencies : (n, 3N) ndarray
        Frequencies along the path, THz (negative: imaginary).
    dos_frequencies, dos : ndarray
        Total density of states (states/THz per cell) on a frequency grid (THz).
    temperatures : ndarray
        K.
    heat_capacity : ndarray
        C_V per atom in units of k_B (3 at high temperature, Dulong–Petit).
    free_energy : ndarray
        Vibrational Helmholtz free energy per atom (with zero-point energy), eV.
    entropy : ndarray
        Vibrational entropy per atom in units of k_B.
    min_frequency : float
        Lowest frequency found on the path and the mesh, THz.
    imaginary_qpoints : list
        q-points (reduced) with a frequency below ``-imaginary_tol_THz``.
    gamma_acoustic : ndarray
        The three lowest frequencies at Γ, THz (zero for a translation-invariant model).
    convergence : dict
        Filled by ``compare_supercell``: the other supercell, the q-points compared and the
        largest frequency difference (THz and relative).
    """

    supercell: tuple[int, int, int]
    n_displacements: int
    path: str
    distances: np.ndarray
    special_x: np.ndarray
    special_labels: list[str]
    qpoints: np.ndarray
    band_frequencies: np.ndarray
    dos_frequencies: np.ndarray
    dos: np.ndarray
    temperatures: np.ndarray
    heat_capacity: np.ndarray
    free_energy: np.ndarray
    entropy: np.ndarray
    min_frequency: float
    imaginary_qpoints: list
    gamma_acoustic: np.ndarray
    imaginary_tol_THz: float = 0.05
    convergence: dict[str, Any] = field(default_factory=dict)
    phonopy: Any = field(default=None, repr=False)

    @property
    def stable(self) -> bool:
        """No imaginary mode (below ``-imaginary_tol_THz``) on the path or the mesh."""
        return not self.imaginary_qpoints

    @property
    def converged(self) -> bool | None:
        """Supercell convergence within tolerance (None when not checked)."""
        return self.convergence.get("converged")

    @property
    def ok(self) -> bool:
        """Stable and (where checked) converged with the supercell size."""
        return self.stable and self.converged is not False

    def frequencies(self, qpoints: Sequence[Sequence[float]]) -> np.ndarray:
        """Frequencies (THz) at reduced q-points from the stored force constants."""
        return _frequencies(self.phonopy, np.atleast_2d(qpoints))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "supercell": self.supercell,
            "n_displacements": self.n_displacements,
            "path": self.path,
            "special_labels": self.special_labels,
            "special_x": self.special_x,
            "distances": self.distances,
            "band_frequencies_THz": self.band_frequencies,
            "stable": self.stable,
            "min_frequency_THz": self.min_frequency,
            "imaginary_qpoints": self.imaginary_qpoints,
            "gamma_acoustic_THz": self.gamma_acoustic,
            "temperatures_K": self.temperatures,
            "heat_capacity_kB_per_atom": self.heat_capacity,
            "free_energy_eV_per_atom": self.free_energy,
            "entropy_kB_per_atom": self.entropy,
            "convergence": self.convergence,
            "ok": self.ok,
        }

    def plot(self, path: str | Path) -> Path:
        """Dispersion, DOS and thermodynamics in one PNG."""
        fig, axes = new_figure(1, 3, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 1, 2]})
        ax, axd, axt = axes
        ax.plot(self.distances, self.band_frequencies, "k-", lw=1)
        for x in self.special_x:
            ax.axvline(x, color="0.7", lw=0.5)
        ax.axhline(0, color="0.5", lw=0.5)
        ticks: list[float] = []
        names: list[str] = []
        for x, name in zip(self.special_x, self.special_labels, strict=True):
            name = "Γ" if name == "G" else name
            if ticks and abs(x - ticks[-1]) < 1e-9:  # a break in the path: "K|U"
                names[-1] = f"{names[-1]}|{name}"
            else:
                ticks.append(float(x))
                names.append(name)
        ax.set_xticks(ticks, names)
        ax.set_xlim(self.distances[0], self.distances[-1])
        ax.set_ylabel("frequency (THz)")
        title = "stable" if self.stable else f"UNSTABLE: min {self.min_frequency:.2f} THz"
        ax.set_title(f"supercell {'x'.join(map(str, self.supercell))}: {title}")
        axd.plot(self.dos, self.dos_frequencies, "k-")
        axd.set_ylim(ax.get_ylim())
        axd.set_xlabel("DOS (1/THz)")
        axt.plot(self.temperatures, self.heat_capacity, label="C_V (k_B/atom)")
        axt.plot(self.temperatures, self.entropy, label="S (k_B/atom)")
        axt2 = axt.twinx()
        axt2.plot(self.temperatures, self.free_energy, "r--", label="F (eV/atom)")
        axt2.set_ylabel("F (eV/atom)", color="r")
        axt.set_xlabel("T (K)")
        axt.legend(loc="center right", fontsize=8)
        return save_figure(fig, path)


def supercell_convergence(
    atoms: Atoms,
    calc: Any = None,
    *,
    supercells: Sequence[Sequence[int]] = ((2, 2, 2), (3, 3, 3)),
    qpoints: Sequence[Sequence[float]] = DEFAULT_CHECK_Q,
    displacement: float = 0.01,
    tolerance_THz: float = 0.1,
) -> dict[str, Any]:
    """Compare phonon frequencies of two supercells at a few q-points.

    Parameters
    ----------
    atoms, calc
        As for :func:`phonons`.
    supercells : two triples of int
        The smaller and the larger supercell.
    qpoints : sequence of reduced q-points
        Where to compare (commensurate points of both supercells are exact in both, so
        include incommensurate ones such as (0.25, 0, 0) for a 3x3x3 vs 2x2x2 test).
    displacement : float
        Finite displacement, Å.
    tolerance_THz : float
        Largest frequency difference (THz) accepted as converged.

    Returns
    -------
    dict
        ``supercells``, ``qpoints``, ``frequencies`` (THz, one array per supercell),
        ``max_abs_diff_THz``, ``max_rel_diff``, ``converged``.
    """
    atoms = check_atoms(atoms)
    calc = pick_calculator(atoms, calc)
    if len(supercells) != 2:
        raise ValueError(f"supercells must be two supercells to compare, got {supercells!r}")
    scs = [_supercell(s, "supercells[i]") for s in supercells]
    tol = positive(tolerance_THz, "tolerance_THz", "THz")
    q = np.atleast_2d(np.asarray(qpoints, dtype=float))
    freqs = [_frequencies(_phonopy(atoms, calc, s, displacement), q) for s in scs]
    diff = np.abs(freqs[1] - freqs[0])
    rel = diff / np.maximum(np.abs(freqs[1]), 0.1)
    return {
        "supercells": scs,
        "qpoints": q,
        "frequencies": freqs,
        "max_abs_diff_THz": float(diff.max()),
        "max_rel_diff": float(rel.max()),
        "tolerance_THz": tol,
        "converged": bool(diff.max() <= tol),
    }


def phonons(
    atoms: Atoms,
    calc: Any = None,
    *,
    supercell: Sequence[int] = (3, 3, 3),
    displacement: float = 0.01,
    path: str | None = None,
    npoints: int = 150,
    mesh: Sequence[int] = (16, 16, 16),
    temperatures: Sequence[float] | None = None,
    imaginary_tol_THz: float = 0.05,
    compare_supercell: Sequence[int] | None = None,
    convergence_tol_THz: float = 0.1,
) -> PhononResult:
    """Phonon dispersion, DOS and harmonic thermodynamics of a crystal.

    Parameters
    ----------
    atoms : ase.Atoms
        Relaxed periodic crystal (its cell is the phonopy unit cell and the reciprocal basis of
        the q-points; give the primitive cell, e.g. ``ase.build.bulk("Cu")``). Å.
    calc : ase calculator, optional
        Any ASE calculator with forces (default: ``atoms.calc``).
    supercell : three ints
        Supercell of the force constants.
    displacement : float
        Finite displacement, Å (phonopy's default is 0.01).
    path : str, optional
        High-symmetry path in ASE notation (default: the standard path of the cell's lattice).
    npoints : int
        Number of q-points along the path.
    mesh : three ints
        Γ-centred q-mesh for DOS and thermodynamics.
    temperatures : sequence of float, optional
        Temperatures in K (default 0, 10, ..., 1000 K).
    imaginary_tol_THz : float
        Frequencies below ``-imaginary_tol_THz`` (THz) count as imaginary (unstable).
    compare_supercell : three ints, optional
        A second supercell whose frequencies are compared (:func:`supercell_convergence`).
    convergence_tol_THz : float
        Tolerance of that comparison, THz.

    Returns
    -------
    PhononResult
    """
    atoms = check_atoms(atoms)
    calc = pick_calculator(atoms, calc)
    sc = _supercell(supercell, "supercell")
    mesh = _supercell(mesh, "mesh")
    displacement = positive(displacement, "displacement", "Å")
    tol = positive(imaginary_tol_THz, "imaginary_tol_THz", "THz")
    if isinstance(npoints, bool) or not isinstance(npoints, int) or npoints < 10:
        raise ValueError(f"npoints must be an integer >= 10, got {npoints!r}")
    temps = (
        np.arange(0.0, 1001.0, 10.0)
        if temperatures is None
        else np.asarray(temperatures, dtype=float)
    )
    if temps.ndim != 1 or temps.size == 0 or np.any(temps < 0):
        raise ValueError(
            f"temperatures must be a non-empty list of values >= 0 K, got {temperatures!r}"
        )
    ph = _phonopy(atoms, calc, sc, displacement)
    bp = atoms.cell.bandpath(path, npoints=npoints)
    x, special_x, labels = bp.get_linear_kpoint_axis()
    bands = _frequencies(ph, bp.kpts)
    ph.run_mesh(mesh, is_gamma_center=True)
    mesh_q, mesh_f = np.asarray(ph.mesh.qpoints), np.asarray(ph.mesh.frequencies)
    ph.run_total_dos()
    dos = ph.total_dos
    ph.run_thermal_properties(temperatures=temps, exclude_gamma_acoustic=True)
    th = ph.thermal_properties
    n = len(atoms)
    kjmol = units.kJ / units.mol  # eV per kJ/mol
    imaginary = []
    for qs, fs in ((bp.kpts, bands), (mesh_q, mesh_f)):
        for q, f in zip(qs, fs, strict=True):
            if f.min() < -tol:
                imaginary.append([float(v) for v in q])
    gamma = np.sort(_frequencies(ph, np.zeros((1, 3)))[0])[:3]
    result = PhononResult(
        supercell=sc,
        n_displacements=len(ph.supercells_with_displacements),
        path=bp.path,
        distances=np.asarray(x),
        special_x=np.asarray(special_x),
        special_labels=list(labels),
        qpoints=np.asarray(bp.kpts),
        band_frequencies=bands,
        dos_frequencies=np.asarray(dos.frequency_points),
        dos=np.asarray(dos.dos),
        temperatures=np.asarray(th.temperatures),
        heat_capacity=np.asarray(th.heat_capacity) / (units.mol * units.kB / units.J) / n,
        free_energy=np.asarray(th.free_energy) * kjmol / n,
        entropy=np.asarray(th.entropy) / (units.mol * units.kB / units.J) / n,
        min_frequency=float(min(bands.min(), mesh_f.min())),
        imaginary_qpoints=imaginary,
        gamma_acoustic=gamma,
        imaginary_tol_THz=tol,
        phonopy=ph,
    )
    if compare_supercell is not None:
        other = _supercell(compare_supercell, "compare_supercell")
        q = np.asarray(DEFAULT_CHECK_Q)
        f_other = _frequencies(_phonopy(atoms, calc, other, displacement), q)
        f_main = _frequencies(ph, q)
        diff = np.abs(f_main - f_other)
        ctol = positive(convergence_tol_THz, "convergence_tol_THz", "THz")
        result.convergence = {
            "supercells": [other, sc],
            "qpoints": q,
            "frequencies": [f_other, f_main],
            "max_abs_diff_THz": float(diff.max()),
            "max_rel_diff": float((diff / np.maximum(np.abs(f_main), 0.1)).max()),
            "tolerance_THz": ctol,
            "converged": bool(diff.max() <= ctol),
        }
    return result
