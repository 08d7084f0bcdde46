"""The toy system of the umbrella-stage tests, shared by the serial and the 2-rank tests.

An ion (Na, index 4) above four Cu "surface" atoms whose energy is exactly linear in the ion's
height: F(h) = F_SLOPE h, a free energy that the stage must recover within its error bars.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from multiscale.pipeline import SCHEMA

F_SLOPE = 0.05  # eV/Å: F(h) = F_SLOPE h exactly


class LinearHeight(Calculator):
    """E = F_SLOPE h, h = z_ion − mean z of the surface atoms; the surface atoms are held in
    x, y by springs and to their own mean height in z (translation invariant along z, so the
    runner's fixed centre of mass does not bias h)."""

    implemented_properties = ["energy", "free_energy", "forces"]

    def __init__(self, ion: int, surface: list[int], sites: np.ndarray) -> None:
        super().__init__()
        self.ion, self.surface, self.sites = ion, surface, sites

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        p = self.atoms.positions
        s = self.surface
        d = p[s] - self.sites
        d[:, 2] = p[s, 2] - p[s, 2].mean()
        f = np.zeros_like(p)
        f[self.ion, 2] = -F_SLOPE
        f[s, 2] += F_SLOPE / len(s)
        f[s] -= 5.0 * d
        e = F_SLOPE * (p[self.ion, 2] - p[s, 2].mean()) + 2.5 * float((d**2).sum())
        self.results = {"energy": e, "free_energy": e, "forces": f}


def surface_ion() -> Atoms:
    """Four Cu atoms at z = 0 and a Na ion 3.3 Å above them (tags: 1 surface, 0 ion)."""
    return Atoms(
        "Cu4Na",
        positions=[[0, 0, 0], [2.55, 0, 0], [0, 2.55, 0], [2.55, 2.55, 0], [1.3, 1.3, 3.3]],
        cell=[5.1, 5.1, 16.0],
        pbc=True,
        tags=[1, 1, 1, 1, 0],
    )


def calculator_factory(atoms: Atoms):
    """A stand-in for ``umbrella_stage.make_calculator`` that builds :class:`LinearHeight`."""
    sites = atoms.positions[:4].copy()
    return lambda spec, what: (LinearHeight(4, [0, 1, 2, 3], sites), spec)


def md_and_umbrella_cfg(**umbrella: Any) -> tuple[dict, dict]:
    """Validated-looking ``[md]`` and ``[umbrella]`` sections (schema defaults) for the toy:
    10 fs steps, no integrity monitor, Na at 1 mol/L; ``umbrella`` overrides the window keys."""
    md_cfg = {k: copy.deepcopy(v.default) for k, v in SCHEMA["md"].items()}
    md_cfg.update(timestep_fs=10.0, traj_interval=5, checkpoint_interval=1000,
                  integrity="off", concentration_mol_per_L=1.0)  # fmt: skip
    cfg = {k: copy.deepcopy(v.default) for k, v in SCHEMA["umbrella"].items()}
    cfg.update(enabled=True, species=["Na"], relax_steps=0, n_blocks=4, **umbrella)
    return md_cfg, cfg
