"""Hydrogen mass repartitioning (HMR): heavier hydrogens, the same molecules, a longer time step.

The fastest motion of water (and of any X-H group) is the X-H stretch, ~3700 cm⁻¹, period
~9 fs; it limits velocity Verlet to ~0.5 fs. HMR moves mass from each heavy atom X to the
hydrogens bonded to it: every such H gets ``hydrogen_mass`` (e.g. 3 u instead of 1.008 u) and X
loses what its hydrogens gained, so the **mass of every molecule is unchanged**. For water with
H at 3 u the O-H reduced mass rises from 0.95 u to 2.4 u, the stretch frequency drops by
√(2.4/0.95) ≈ 1.6 and the time step can grow by about that factor at the same accuracy.

What it changes, and what it does not:

* **Static (configurational) averages are exactly unchanged.** In the classical canonical
  ensemble the momenta integrate out of exp(-H/kT) for any masses, leaving exp(-U(r)/kT):
  densities, g(r), concentration profiles c(z), layer heights, free-energy profiles F(z) are
  the same with or without HMR (tested on a toy system in ``tests/test_md_hmr.py``). Only how
  fast they are sampled changes.
* **Centre-of-mass motion of a molecule** keeps its inertia (the total mass is conserved), so
  ballistic translation is unchanged; **rotation and libration are slower** (water's moments of
  inertia, dominated by the hydrogens, grow ~2.5x at 3 u, so rotational times grow ~1.6x in
  the inertial regime). Translational diffusion in a liquid is coupled to the rotations of the
  H-bond network, so D of water (and of ions, through the solvent's viscosity) can change by a
  few percent up to the rotational factor in the worst case. Transport coefficients taken from
  an HMR run (D(z) for the continuum) therefore carry a systematic error of that size; no exact
  correction exists. Check it once per model: a short run with the true masses (same
  thermostat) and the project's D(z) comparison; if they differ beyond the error bars, take D
  from true-mass runs and use HMR for the static profiles only. (The Langevin friction biases D
  too; keep it weak, or use a Bussi thermostat, for transport.)

Apply it to ``atoms`` before :class:`multiscale.md.MDRunner` (which uses the atoms' masses), and
again to the atoms you pass when resuming: the runner's checkpoint stores the masses and a
resume with other masses is refused.
Positions written to trajectories are the atoms' positions (not molecular centres of mass), so
analyses that select O (as the extraction does) are unaffected; a centre of mass computed from
the trajectory's masses would be the HMR one.
"""

from __future__ import annotations

import numbers

import numpy as np
from ase import Atoms
from ase.neighborlist import natural_cutoffs, neighbor_list

from .integrity import NONMETALS

__all__ = ["hydrogen_partners", "repartition_hydrogen_masses"]

#: Key under which :func:`repartition_hydrogen_masses` records the H mass in ``atoms.info``.
INFO_KEY = "hmr_hydrogen_mass"


def _real(name: str, value, unit: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number ({unit}), got {value!r}")
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0 {unit}, got {value!r}")
    return value


def hydrogen_partners(atoms: Atoms, bond_factor: float = 1.2) -> np.ndarray:
    """The heavy non-metal atom each hydrogen is bonded to.

    A hydrogen is bonded to the nearest non-metal, non-hydrogen atom (O, N, C, S, Cl, ...;
    :data:`multiscale.md.integrity.NONMETALS`) within ``bond_factor`` × the sum of their
    covalent radii (ASE's :func:`~ase.neighborlist.natural_cutoffs`; 1.2 → 1.38 Å for O-H).
    Metals and metal ions (Cu, Na⁺) are never partners: an H near a Na⁺ is not bonded to it.

    Parameters
    ----------
    atoms : ase.Atoms
        The structure (minimum image under periodic boundary conditions; unwrapped is fine).
    bond_factor : float
        Bond criterion, a multiple of the sum of covalent radii (dimensionless).

    Returns
    -------
    ndarray of int, shape (len(atoms),)
        For each hydrogen the index of its partner, -1 for a hydrogen with none (H₂, a free
        proton) and for every atom that is not a hydrogen.
    """
    if not isinstance(atoms, Atoms):
        raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
    bond_factor = _real("bond_factor", bond_factor, "(multiple of the covalent radii sum)")
    partner = np.full(len(atoms), -1, dtype=int)
    symbols = np.array(atoms.get_chemical_symbols())
    is_h = symbols == "H"
    if not is_h.any():
        return partner
    heavy = np.array([s in NONMETALS and s != "H" for s in symbols])
    radii = np.asarray(natural_cutoffs(atoms), dtype=float)
    cutoff = float(bond_factor * (radii.max() + radii[is_h].max()))
    i, j, d = neighbor_list("ijd", atoms, cutoff)
    keep = is_h[i] & heavy[j] & (d <= bond_factor * (radii[i] + radii[j]))
    i, j, d = i[keep], j[keep], d[keep]
    order = np.lexsort((d, i))  # by hydrogen, nearest partner first
    i, j = i[order], j[order]
    first = np.ones(len(i), dtype=bool)
    first[1:] = i[1:] != i[:-1]
    partner[i[first]] = j[first]
    return partner


def repartition_hydrogen_masses(
    atoms: Atoms,
    hydrogen_mass: float = 3.0,
    bond_factor: float = 1.2,
    keep_kinetic_energy: bool = True,
) -> np.ndarray:
    """Give every bonded hydrogen ``hydrogen_mass``, taken from its heavy partner (in place).

    Each hydrogen bonded to a heavy non-metal atom X (see :func:`hydrogen_partners`) gets the
    mass ``hydrogen_mass``; X loses the mass its hydrogens gained, so the mass of every
    molecule (and of the system) is unchanged. For water with 3 u: H 1.008 → 3.000 u,
    O 15.999 → 12.015 u. Unbonded hydrogens and all other atoms keep their masses. Masses
    start from the atoms' current masses, so applying the function twice with the same
    ``hydrogen_mass`` changes nothing the second time.

    Momenta, if the atoms have any, are scaled by √(m_new/m_old) so that each atom keeps its
    kinetic energy and the temperature is unchanged (keeping the velocities instead would
    triple the hydrogens' kinetic energy at 3 u, and heat water from 300 K to ~675 K). This
    leaves a small net momentum; remove it with :func:`ase.md.velocitydistribution.Stationary`
    if the run keeps the momenta (``MDSettings(initial_temperature_K=None)``).

    Parameters
    ----------
    atoms : ase.Atoms
        The system, before it is given to :class:`multiscale.md.MDRunner`; its masses are
        set with :meth:`ase.Atoms.set_masses` and ``atoms.info["hmr_hydrogen_mass"]`` records
        the value.
    hydrogen_mass : float
        Mass of a bonded hydrogen after repartitioning, u (atomic mass units; 1.008 = none;
        2.5-4 is usual).
    bond_factor : float
        Bond criterion of :func:`hydrogen_partners` (multiple of the covalent radii sum).
    keep_kinetic_energy : bool
        Scale the momenta as described above (False: leave the momenta as they are, so the
        velocities of the changed atoms change by m_old/m_new).

    Returns
    -------
    ndarray, shape (len(atoms),)
        The new masses, u.

    Raises
    ------
    ValueError
        ``hydrogen_mass`` is not a positive number, or it would leave a heavy atom no heavier
        than its hydrogens (e.g. 6 u on the 4 H of methane); choose a smaller value.
    """
    if not isinstance(atoms, Atoms):
        raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
    hydrogen_mass = _real("hydrogen_mass", hydrogen_mass, "u")
    if not isinstance(keep_kinetic_energy, bool | np.bool_):
        raise TypeError(f"keep_kinetic_energy must be True or False, got {keep_kinetic_energy!r}")
    partner = hydrogen_partners(atoms, bond_factor)
    masses = atoms.get_masses().astype(float)
    bonded = np.flatnonzero(partner >= 0)
    gain = hydrogen_mass - masses[bonded]
    new = masses.copy()
    new[bonded] = hydrogen_mass
    np.subtract.at(new, partner[bonded], gain)
    heavy = np.unique(partner[bonded])
    too_light = heavy[new[heavy] <= hydrogen_mass]
    if too_light.size:
        k = int(too_light[0])
        n_h = int(np.count_nonzero(partner == k))
        group = masses[k] + masses[partner == k].sum()  # X and its H: conserved
        raise ValueError(
            f"hydrogen_mass={hydrogen_mass:g} u would leave atom {k} ({atoms[k].symbol}, "
            f"{masses[k]:.3f} u with {n_h} H) at {new[k]:.3f} u, not heavier than its "
            f"hydrogens: choose hydrogen_mass below {group / (n_h + 1):.2f} u."
        )
    momenta = atoms.get_momenta()
    atoms.set_masses(new)
    if keep_kinetic_energy and np.any(momenta):
        atoms.set_momenta(momenta * np.sqrt(new / masses)[:, None], apply_constraint=False)
    atoms.info[INFO_KEY] = hydrogen_mass
    return new
