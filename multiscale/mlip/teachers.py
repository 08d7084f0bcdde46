"""Universal potentials whose weights ship inside installed wheels: distillation teachers.

A teacher labels frames for a small, fast MACE student (:mod:`multiscale.mlip.distill`). Only
models whose weights are inside a wheel are offered (nothing is downloaded at run time):

==================  ==========================================================================
name                model
==================  ==========================================================================
``chgnet-0.3.0``    CHGNet 0.3.0 (MPtrj: PBE/PBE+U plane waves), ``chgnet`` wheel
``chgnet-0.2.0``    CHGNet 0.2.0, same data
``sevennet-0``      SevenNet-0 (11 Jul 2024; MPtrj), ``sevenn`` wheel
``sevennet-l3i5``   SevenNet-l3i5 (larger SevenNet-0 variant, l_max 3, 5 layers; MPtrj)
==================  ==========================================================================

SevenNet-MF-0 ships only with ``sevenn`` >= 0.11, which needs ``e3nn`` >= 0.5; mace-torch 0.3.16
pins ``e3nn`` 0.4.4, so the project installs ``sevenn`` 0.10.4 and SevenNet-MF-0 is not offered.

:func:`teacher_scores` measures what a teacher choice rests on: force errors against the
project's own PySCF PBE/def2-SVP water/NaCl cluster labels, and the Cu lattice constant and
Cu(111) surface energy against PBE literature values.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from numbers import Integral
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, CalculatorSetupError, all_changes
from ase.data import chemical_symbols

#: PBE reference values for copper used to score teachers (see docs/mlip.md for sources).
#: Lattice constant, Å: PBE 3.630 (Haas, Tran & Blaha, Phys. Rev. B 79, 085104 (2009), as
#: tabulated with their zero-point-corrected experiment 3.595 Å).
CU_A_PBE = 3.630
#: Cu(111) surface energy, J/m²: the DFT (PBE) reference of Lysogorskiy et al., npj Comput.
#: Mater. 7, 97 (2021), Table 1; Patra et al., PNAS 114, E9188 (2017) give 1.48 with PBE
#: (experiment, facet-averaged: 1.83). PBE underestimates metal surface energies.
CU111_GAMMA_PBE = 1.36


def _chgnet(version: str) -> Callable[[int], Calculator]:
    def make(num_threads: int) -> Calculator:
        from multiscale.mlip.chgnet_adapter import chgnet_calculator

        return chgnet_calculator(version, num_threads=num_threads)

    return make


def _sevennet(model: str) -> Callable[[int], Calculator]:
    def make(num_threads: int) -> Calculator:
        import torch

        from multiscale.mlip.train import _import_mace

        # e3nn 0.4.4 loads its constants with torch.load at import; mace-torch's import path
        # (which restores torch's safe default afterwards) must come first
        _import_mace()
        try:
            from sevenn.sevennet_calculator import SevenNetCalculator
        except ImportError as exc:
            raise CalculatorSetupError(
                f"SevenNet teacher {model!r} needs the sevenn package (pip install "
                "'sevenn==0.10.4', in the project's dependencies): {exc}"
            ) from exc
        torch.set_num_threads(min(int(num_threads), 2))
        # the checkpoint ships in the sevenn wheel (an installed package, trusted like its code)
        return SevenNetCalculator(model=model, device="cpu")

    return make


class _Float32Default(Calculator):
    """Run a float32 torch model under torch's float32 default dtype, whatever it is outside.

    mace-torch sets torch's *global* default dtype (float64 when a float64 MACE model is built or
    trained); CHGNet and SevenNet then receive float64 inputs for float32 weights and fail
    ("expected m1 and m2 to have the same dtype"). A teacher and MACE students share one
    process in the distillation, so every teacher call is wrapped.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, inner: Calculator) -> None:
        super().__init__()
        self.inner = inner

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        """Energy (eV), forces (eV/Å) and, when asked, stress (eV/Å³) of the wrapped model."""
        import torch

        super().calculate(atoms, properties, system_changes)
        old = torch.get_default_dtype()
        torch.set_default_dtype(torch.float32)
        try:
            work = self.atoms.copy()
            # raw forces: the caller's Atoms applies its own constraints (e.g. the rigid waters
            # of prepare_md's FIRE); applied here too, RATTLE would run twice and can fail
            work.set_constraint()
            work.calc = self.inner
            energy = float(work.get_potential_energy())
            results = {"energy": energy, "free_energy": energy}
            results["forces"] = np.array(work.get_forces(), dtype=float)
            if "stress" in properties:
                results["stress"] = np.array(work.get_stress(), dtype=float)
        finally:
            torch.set_default_dtype(old)
        self.results = results


#: Teachers whose weights ship in installed wheels: name -> factory(num_threads).
TEACHERS: dict[str, Callable[[int], Calculator]] = {
    "chgnet-0.3.0": _chgnet("0.3.0"),
    "chgnet-0.2.0": _chgnet("0.2.0"),
    "sevennet-0": _sevennet("7net-0"),
    "sevennet-l3i5": _sevennet("7net-l3i5"),
}


def teacher_calculator(name: str, num_threads: int = 1) -> Calculator:
    """Return the ASE calculator (energy eV, forces eV/Å) of a shipped universal teacher.

    Parameters
    ----------
    name : str
        One of :data:`TEACHERS` (``"chgnet-0.3.0"``, ``"chgnet-0.2.0"``, ``"sevennet-0"``,
        ``"sevennet-l3i5"``).
    num_threads : int
        Torch CPU threads (capped at 2 on this shared machine).

    Returns
    -------
    ase.calculators.calculator.Calculator
    """
    if not isinstance(name, str) or name not in TEACHERS:
        raise CalculatorSetupError(
            f"unknown teacher {name!r}; choose one of {sorted(TEACHERS)} (their weights ship in "
            "installed wheels; nothing is downloaded)."
        )
    if isinstance(num_threads, bool) or not isinstance(num_threads, Integral) or num_threads < 1:
        raise CalculatorSetupError(
            f"num_threads must be a positive integer (torch CPU threads), got {num_threads!r}."
        )
    return _Float32Default(TEACHERS[name](int(num_threads)))


#: Elements SevenNet-0 (11 Jul 2024, MPtrj) covers: Z = 1..94 except Po, At, Rn, Fr, Ra
#: (Z = 84..88), the ``type_map`` of the checkpoint in the sevenn 0.10.4 wheel (a test reads
#: the checkpoint and compares).
SEVENNET_0_ELEMENTS = frozenset(chemical_symbols[z] for z in range(1, 95) if not 84 <= z <= 88)


def sevennet_calculator(model: str = "sevennet-0", num_threads: int = 1) -> Calculator:
    """SevenNet universal potential (energy eV, forces eV/Å, stress eV/Å³), weights from its wheel.

    The pipeline's ``{model = "sevennet"}``; the same calculator as the teacher of the shipped
    interface model (:func:`teacher_calculator`), run in float32 whatever torch's default dtype.

    Parameters
    ----------
    model : str
        ``"sevennet-0"`` (SevenNet-0, 11 Jul 2024; MPtrj, PBE/PBE+U) or ``"sevennet-l3i5"``.
    num_threads : int
        Torch CPU threads (capped at 2 on this shared machine).

    Returns
    -------
    ase.calculators.calculator.Calculator

    Raises
    ------
    ase.calculators.calculator.CalculatorSetupError
        Another model name, a bad thread count, or sevenn not installed.
    """
    if not isinstance(model, str) or not model.startswith("sevennet"):
        raise CalculatorSetupError(
            f"unknown SevenNet model {model!r}; choose one of "
            f"{sorted(k for k in TEACHERS if k.startswith('sevennet'))}"
        )
    return teacher_calculator(model, num_threads)


def in_box(cluster: Atoms, box: float = 30.0) -> Atoms:
    """Put a non-periodic cluster at the centre of a periodic cube of side ``box`` (Å).

    Universal periodic models need a cell; with ``box`` larger than the cluster plus twice the
    model's cutoff no periodic image interacts.
    """
    a = cluster.copy()
    span = np.ptp(a.positions, axis=0).max() if len(a) else 0.0
    if box < span + 12.0:
        raise ValueError(
            f"box={box} Å is too small for a cluster {span:.1f} Å across: images would "
            "interact within a 6 Å cutoff; use box >= span + 12 Å."
        )
    a.cell = [box, box, box]
    a.pbc = True
    a.center()
    return a


@dataclass
class ForceErrors:
    """Errors of a calculator against labelled frames: forces (meV/Å; overall and per family)
    and energies (``energy_mae``, meV/atom)."""

    mae: float
    rmse: float
    energy_mae: float
    n_frames: int
    n_components: int
    by_family: dict[str, float] = field(default_factory=dict)


def _family_group(family: str) -> str:
    """``"nacl_w2"`` -> ``"nacl"``, ``"w3"`` -> ``"water"``: group cluster families by solute."""
    head = re.sub(r"_?w\d+$", "", family)
    return head or "water"


def force_errors(calc: Calculator, frames: Sequence[Atoms], box: bool = True) -> ForceErrors:
    """Force MAE and RMSE (meV/Å) and energy MAE (meV/atom) of ``calc`` against ``frames``.

    Parameters
    ----------
    calc : ase.calculators.calculator.Calculator
        The model to score.
    frames : sequence of ase.Atoms
        Labelled frames (``get_forces()`` and ``get_potential_energy()`` return the reference,
        eV/Å and eV); ``info["family"]``,
        when present, groups the per-family MAE.
    box : bool
        Put non-periodic frames in a 30 Å periodic cube first (:func:`in_box`).

    Returns
    -------
    ForceErrors
    """
    if len(frames) == 0:
        raise ValueError("force_errors needs at least one labelled frame.")
    diffs, de, fam = [], [], {}
    for ref in frames:
        a = in_box(ref) if box and not ref.pbc.any() else ref.copy()
        a.calc = calc
        d = (np.asarray(a.get_forces()) - np.asarray(ref.get_forces())).ravel()
        diffs.append(d)
        de.append((a.get_potential_energy() - ref.get_potential_energy()) / len(a))
        fam.setdefault(_family_group(str(ref.info.get("family", "all"))), []).append(d)
    allv = np.concatenate(diffs)
    return ForceErrors(
        mae=1e3 * float(np.abs(allv).mean()),
        rmse=1e3 * float(np.sqrt((allv**2).mean())),
        energy_mae=1e3 * float(np.abs(de).mean()),
        n_frames=len(frames),
        n_components=int(allv.size),
        by_family={k: 1e3 * float(np.abs(np.concatenate(v)).mean()) for k, v in fam.items()},
    )


@dataclass
class TeacherScore:
    """What a teacher choice rests on; units in the field names."""

    name: str
    cluster_force_mae_meV_A: float
    cluster_force_rmse_meV_A: float
    cluster_mae_by_family_meV_A: dict[str, float]
    cu_a_A: float
    cu_a_error_percent: float
    cu111_gamma_J_m2: float
    cu111_gamma_error_percent: float
    s_per_interface_frame: float
    n_clusters: int

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)


def teacher_scores(
    name: str,
    clusters: Sequence[Atoms],
    interface: Atoms | None = None,
    num_threads: int = 1,
    surface_layers: Sequence[int] = (5, 6, 7, 8),
) -> TeacherScore:
    """Score one teacher: cluster force error, Cu lattice constant, Cu(111) surface energy, cost.

    Parameters
    ----------
    name : str
        A teacher of :data:`TEACHERS`.
    clusters : sequence of ase.Atoms
        PySCF-labelled non-periodic clusters (forces in eV/Å), e.g. the shipped
        ``water-nacl_pbe_def2svp.extxyz``.
    interface : ase.Atoms, optional
        A periodic interface frame whose force call is timed (seconds per call).
    num_threads : int
        Torch CPU threads.
    surface_layers : sequence of int
        Slab thicknesses (layers) of the Fiorentini–Methfessel surface-energy fit.

    Returns
    -------
    TeacherScore
    """
    from multiscale.properties.surfaces import fcc_lattice_constant, surface_energy

    calc = teacher_calculator(name, num_threads=num_threads)
    errs = force_errors(calc, clusters)
    a = fcc_lattice_constant("Cu", calc)
    surf = surface_energy("Cu", calc, "111", layers=tuple(surface_layers), a=a, fit_points=2)
    gamma = float(surf.gamma)
    cost = float("nan")
    if interface is not None:
        frame = interface.copy()
        frame.calc = calc
        frame.get_forces()
        times = []
        for _ in range(3):
            frame.positions[0] += 1e-3
            t0 = time.perf_counter()
            frame.get_forces()
            times.append(time.perf_counter() - t0)
        cost = float(np.median(times))
    return TeacherScore(
        name=name,
        cluster_force_mae_meV_A=errs.mae,
        cluster_force_rmse_meV_A=errs.rmse,
        cluster_mae_by_family_meV_A=errs.by_family,
        cu_a_A=a,
        cu_a_error_percent=100.0 * (a - CU_A_PBE) / CU_A_PBE,
        cu111_gamma_J_m2=gamma,
        cu111_gamma_error_percent=100.0 * (gamma - CU111_GAMMA_PBE) / CU111_GAMMA_PBE,
        s_per_interface_frame=cost,
        n_clusters=len(clusters),
    )
