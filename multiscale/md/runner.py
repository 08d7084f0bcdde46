"""Thermostatted or NVE molecular dynamics with trajectories, checkpoints and blow-up detection.

The integrators are ASE's (:class:`ase.md.langevin.Langevin`, :class:`ase.md.bussi.Bussi`,
:class:`ase.md.verlet.VelocityVerlet`); this module adds what a long production run needs:

* **Trajectory** in ASE ``.traj`` or extended XYZ, positions *unwrapped*: the integrators never
  wrap positions into the cell and neither does this runner, so displacements (MSD, diffusion)
  can be taken straight from the file.
* **Checkpoints** written atomically (temporary file + :func:`os.replace`) holding positions,
  momenta, step count, the thermostat's random-generator state (a
  :class:`numpy.random.Generator`; ASE 3.29's Langevin draws two ``standard_normal((N, 3))``
  arrays per step from ``self.rng``, Bussi a normal and a gamma variate), and how many
  trajectory frames / log lines belong to that state. A killed run resumes from the last
  checkpoint and continues as if it had never stopped; trajectory frames and log lines written
  after that checkpoint are cut off on resume so nothing is duplicated. The guarantee, stated
  precisely: positions, momenta and random state are restored bit for bit, so the resumed
  run is *bit-identical* to an uninterrupted one for calculators without internal state (the
  forces a function of the positions alone, e.g. a MACE model). Calculators with state agree
  only to round-off: ASE's LennardJones and EMT keep a neighbour list built at the geometry
  they first saw, and a list built at the checkpoint geometry sums the same pairs in another
  order (~1e-14 relative per force call, amplified by the chaotic dynamics over later steps);
  a PySCFCalculator starts each SCF from an extrapolated density, so its forces agree to the
  SCF convergence threshold. On resume ``atoms.calc.reset()`` is called (when it exists) so
  the calculator starts from a clean state, not one left over from an earlier run in the same
  process. The masses are stored too: a resume with other masses (e.g. without the hydrogen
  mass repartitioning of the first run, :mod:`multiscale.md.hmr`) is refused.
* **Blow-up detection**: non-finite or larger-than-``max_force`` forces, or a temperature above
  ``max_temperature_K``, stop the run with :class:`MDBlowUpError`; the last good frame is
  written to ``last_good.traj`` next to the trajectory. When the starting structure itself
  fails the check (step 0 of a fresh run) there is no good frame: the error says so and its
  ``last_good`` is None.
* **Integrity monitor** (on by default): molecules keep their bonds, water its two H, no O-O
  contact or overlap (:class:`multiscale.md.integrity.IntegrityMonitor`, every
  ``traj_interval`` steps); a violation stops the run with
  :class:`~multiscale.md.integrity.MDIntegrityError` (policy ``"stop"``) or is recorded
  (``"flag"``).
* **Heating ramp** (``heat_from_K``, ``heat_steps``): the thermostat target rises linearly
  from ``heat_from_K`` to ``temperature_K`` over the first ``heat_steps`` steps.
* A tqdm progress bar.

Choices made explicit: Langevin is built with ``fixcm=False`` (ASE's ``fixcm=True`` is
deprecated and does not sample the canonical distribution exactly); with ``fix_com=True``
(default) an :class:`ase.constraints.FixCom` constraint keeps the centre of mass fixed
instead, which removes 3 degrees of freedom from the temperature.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.constraints import FixAtoms, FixCom
from ase.io import Trajectory, read, write
from ase.md.bussi import Bussi
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet
from ase.parallel import DummyMPI
from tqdm.auto import tqdm

from .builders import check_min_distance

__all__ = ["MDBlowUpError", "MDResult", "MDRunner", "MDSettings"]

ENSEMBLES = ("langevin", "bussi", "nve")
TRAJ_FORMATS = {"traj": "trajectory.traj", "extxyz": "trajectory.extxyz"}
THERMO_HEADER = "# step time_fs epot_eV ekin_eV temperature_K etot_eV"


class MDBlowUpError(RuntimeError):
    """The dynamics ran away (forces or temperature); ``last_good`` is the path of the last
    good frame (None when the starting structure itself was bad, so none exists) and ``step``
    the step at which the runaway was detected."""

    def __init__(self, message: str, step: int, last_good: Path | None):
        super().__init__(message)
        self.step = step
        self.last_good = last_good


def _number(name: str, value, unit: str, low: float | None, optional: bool) -> float | None:
    """A finite real setting (``> low`` when ``low`` is given, else ``>= 0``) as a float."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        kind = "a number" + (" or None" if optional else "")
        raise TypeError(f"{name} must be {kind} ({unit}), got {value!r}")
    if low is not None and not (np.isfinite(value) and value > low):
        raise ValueError(f"{name} must be a finite number > {low:g} {unit}, got {value!r}")
    if low is None and not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0 {unit}, got {value!r}")
    return float(value)


def _integer(name: str, value, low: int) -> int:
    """An integer setting ``>= low`` as a Python int (floats, even 10.0, and bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(
            f"{name} must be an integer, got {value!r} ({type(value).__name__}): "
            f"write e.g. {name}={max(low, 1)}"
        )
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value}")
    return int(value)


@dataclass(frozen=True)
class MDSettings:
    """What a run does; stored in the checkpoint and checked on resume.

    Attributes
    ----------
    timestep_fs : float
        Time step, fs (see :func:`multiscale.md.estimate_timestep`).
    ensemble : str
        "langevin", "bussi" or "nve".
    temperature_K : float
        Thermostat target, K (ignored for NVE).
    friction_per_fs : float
        Langevin friction, 1/fs (0.01/fs = 10/ps).
    taut_fs : float
        Bussi coupling time, fs.
    seed : int
        Seeds the initial velocities and the thermostat noise.
    initial_temperature_K : float or None
        Maxwell–Boltzmann velocities at this temperature, K, for a fresh start; None keeps the
        momenta the atoms already have.
    fix_com : bool
        Add :class:`ase.constraints.FixCom` (centre of mass fixed).
    traj_interval : int
        Steps between trajectory frames.
    checkpoint_interval : int
        Steps between checkpoints (a checkpoint is also written at the end).
    traj_format : str
        "traj" (ASE binary) or "extxyz".
    max_force : float
        Largest allowed atomic force, eV/Å, before the run is declared blown up.
    max_temperature_K : float or None
        Largest allowed instantaneous temperature, K; None means 10× the target (or the
        initial temperature for NVE), at least 1000 K.
    heat_from_K : float or None
        Start of a heating ramp, K: the thermostat target goes linearly from this to
        ``temperature_K`` over the first ``heat_steps`` steps (Langevin or Bussi). None: no ramp.
    heat_steps : int
        Length of the heating ramp, steps (0: no ramp).
    """

    timestep_fs: float
    ensemble: str = "langevin"
    temperature_K: float = 300.0
    friction_per_fs: float = 0.01
    taut_fs: float = 100.0
    seed: int = 0
    initial_temperature_K: float | None = 300.0
    fix_com: bool = True
    traj_interval: int = 10
    checkpoint_interval: int = 100
    traj_format: str = "traj"
    max_force: float = 50.0
    max_temperature_K: float | None = None
    heat_from_K: float | None = None
    heat_steps: int = 0

    def __post_init__(self) -> None:
        # every field is checked, and stored as a plain Python value (the checkpoint is JSON)
        for name, choices in (("ensemble", ENSEMBLES), ("traj_format", tuple(TRAJ_FORMATS))):
            value = getattr(self, name)
            if not isinstance(value, str) or value not in choices:
                raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        thermostat = self.ensemble != "nve"
        for name, unit, low, optional in (
            ("timestep_fs", "fs", 0.0, False),
            ("friction_per_fs", "1/fs", 0.0, False),
            ("taut_fs", "fs", 0.0, False),
            ("max_force", "eV/Å", 0.0, False),
            ("temperature_K", "K", 0.0 if thermostat else None, False),
            ("initial_temperature_K", "K", None, True),
            ("max_temperature_K", "K", 0.0, True),
            ("heat_from_K", "K", 0.0, True),
        ):
            object.__setattr__(self, name, _number(name, getattr(self, name), unit, low, optional))
        for name, low in (("traj_interval", 1), ("checkpoint_interval", 1), ("seed", 0),
                          ("heat_steps", 0)):  # fmt: skip
            object.__setattr__(self, name, _integer(name, getattr(self, name), low))
        if not isinstance(self.fix_com, bool | np.bool_):
            raise TypeError(f"fix_com must be True or False, got {self.fix_com!r}")
        object.__setattr__(self, "fix_com", bool(self.fix_com))
        limit = self.temperature_limit_K
        for name in ("temperature_K", "initial_temperature_K"):
            value = getattr(self, name)
            if (name != "temperature_K" or thermostat) and value is not None and value >= limit:
                raise ValueError(
                    f"{name}={value} K is not below the blow-up limit {limit:g} K "
                    "(max_temperature_K, default max(10 x temperature_K, 1000 K)): the run "
                    "would stop at once; raise max_temperature_K or lower the temperature"
                )
        if int(self.heat_steps) != self.heat_steps or self.heat_steps < 0:
            raise ValueError(f"heat_steps must be an integer >= 0, got {self.heat_steps!r}")
        if self.heat_steps and self.ensemble == "nve":
            raise ValueError("heat_steps needs a thermostat: use ensemble 'langevin' or 'bussi'")
        if self.heat_steps and not (self.heat_from_K is not None and self.heat_from_K > 0):
            raise ValueError(
                f"heat_from_K must be a temperature > 0 K with heat_steps, got {self.heat_from_K}"
            )

    def target_temperature_K(self, step: int) -> float:
        """Thermostat target at ``step``, K (the heating ramp, then ``temperature_K``)."""
        if not self.heat_steps or self.heat_from_K is None:
            return self.temperature_K
        x = min(step / self.heat_steps, 1.0)
        return self.heat_from_K + (self.temperature_K - self.heat_from_K) * x

    @property
    def temperature_limit_K(self) -> float:
        """The temperature above which the run is declared blown up, K."""
        if self.max_temperature_K is not None:
            return self.max_temperature_K
        ref = self.temperature_K if self.ensemble != "nve" else self.initial_temperature_K or 0
        return max(10.0 * ref, 1000.0)


@dataclass
class MDResult:
    """Outcome of :meth:`MDRunner.run`.

    Attributes
    ----------
    atoms : ase.Atoms
        The final state (the same object that was passed in).
    steps : int
        Total steps done, counting those before a resume.
    resumed_from : int or None
        Step of the checkpoint the run resumed from, None for a fresh start.
    trajectory : pathlib.Path
    checkpoint : pathlib.Path
    thermo : ndarray, shape (n, 6)
        step, time (fs), E_pot (eV), E_kin (eV), T (K), E_tot (eV) at every step written.
    integrity : dict or None
        :meth:`multiscale.md.integrity.IntegrityMonitor.summary` over the whole run (None
        when the monitor is off).
    """

    atoms: Atoms
    steps: int
    resumed_from: int | None
    trajectory: Path
    checkpoint: Path
    thermo: np.ndarray
    integrity: dict | None = None

    def plot(self, path) -> None:
        """Save temperature (K) and total/potential energy (eV) against time (fs) to ``path``.

        Reads the whole ``thermo.dat`` (all segments of a resumed run), not only this call's
        rows.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        data = np.loadtxt(self.trajectory.parent / "thermo.dat", ndmin=2)
        fig, (ax_t, ax_e) = plt.subplots(2, 1, sharex=True, figsize=(6, 4.5))
        ax_t.plot(data[:, 1], data[:, 4], lw=0.8)
        ax_t.set_ylabel("T (K)")
        ax_e.plot(data[:, 1], data[:, 5] - data[0, 5], lw=0.8, label="E_tot - E_tot(0)")
        ax_e.plot(data[:, 1], data[:, 2] - data[0, 2], lw=0.8, label="E_pot - E_pot(0)")
        ax_e.set_xlabel("time (fs)")
        ax_e.set_ylabel("energy (eV)")
        ax_e.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def _atomic_write_npz(path: Path, **arrays) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class MDRunner:
    """Run (and resume) MD of ``atoms`` with its attached calculator, writing to ``output_dir``.

    Parameters
    ----------
    atoms : ase.Atoms
        System with a calculator attached (any ASE calculator). Moved in place.
    output_dir : str or Path
        Where ``trajectory.traj``/``.extxyz``, ``thermo.dat``, ``checkpoint.npz`` and (after a
        blow-up) ``last_good.traj`` go. A checkpoint found there is resumed.
    settings : MDSettings
        What to run.
    comm : MPI communicator or None
        Communicator of *this* trajectory (ranks sharing one parallel calculator); files are
        written by its rank 0. None: serial (use this for independent replicas, one per rank).
    progress : bool
        Show a tqdm progress bar.
    callback : callable or None
        ``callback(step, atoms)`` after every step (e.g. a custom monitor).
    min_distance : float
        Atoms closer than this (Å) at the start are rejected as overlapping.
    integrity : {"stop", "flag"}, IntegrityMonitor or None
        Molecule-integrity monitor (:class:`multiscale.md.integrity.IntegrityMonitor`): a policy
        name builds one whose reference is ``atoms`` as given here (before any checkpoint is
        loaded); a monitor is used as it is (its ``interval``, else ``traj_interval``); None
        turns it off. Its files go to ``output_dir``.
    """

    def __init__(
        self,
        atoms: Atoms,
        output_dir: str | Path,
        settings: MDSettings,
        comm=None,
        progress: bool = True,
        callback: Callable[[int, Atoms], None] | None = None,
        min_distance: float = 0.5,
        integrity="stop",
    ):
        if not isinstance(atoms, Atoms):
            raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
        if atoms.calc is None:
            raise ValueError("atoms has no calculator; attach one (atoms.calc = ...) first")
        if not isinstance(settings, MDSettings):
            raise TypeError("settings must be an MDSettings")
        if not (
            isinstance(min_distance, int | float | np.integer | np.floating)
            and not isinstance(min_distance, bool)
            and np.isfinite(min_distance)
            and min_distance >= 0
        ):
            raise ValueError(f"min_distance must be a finite number >= 0 Å, got {min_distance!r}")
        for what, arr in (("position", atoms.positions), ("momentum", atoms.get_momenta())):
            bad = ~np.isfinite(arr).all(axis=1)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"atom {i} ({atoms[i].symbol}) has a non-finite {what} {arr[i].tolist()} "
                    f"({int(bad.sum())} of {len(atoms)} atoms): the starting structure is corrupt"
                )
        if not np.isfinite(atoms.cell.array).all():
            raise ValueError(f"the cell is not finite: {atoms.cell.array.tolist()}")
        check_min_distance(atoms, min_distance)
        if settings.fix_com and any(isinstance(c, FixAtoms) for c in atoms.constraints):
            # FixCom would give the fixed atoms the opposite of the rest's mean velocity
            raise ValueError(
                "the atoms have fixed atoms (FixAtoms) and settings.fix_com is True: the fixed "
                "atoms already hold the system in place; use MDSettings(fix_com=False)"
            )
        self.atoms = atoms
        self.settings = settings
        self.comm = comm if comm is not None else DummyMPI()
        self.master = self.comm.rank == 0
        self.progress = progress
        self.callback = callback
        self.dir = Path(output_dir)
        if self.master:
            self.dir.mkdir(parents=True, exist_ok=True)
        self.traj_path = self.dir / TRAJ_FORMATS[settings.traj_format]
        self.thermo_path = self.dir / "thermo.dat"
        self.ckpt_path = self.dir / "checkpoint.npz"
        self.last_good_path = self.dir / "last_good.traj"
        seeds = np.random.SeedSequence(settings.seed).spawn(2)
        self._velocity_rng = np.random.default_rng(seeds[0])
        self.rng = np.random.default_rng(seeds[1])
        if settings.fix_com and not any(isinstance(c, FixCom) for c in atoms.constraints):
            atoms.set_constraint([*atoms.constraints, FixCom()])
        from .integrity import IntegrityMonitor  # imports this module

        if isinstance(integrity, str):
            integrity = IntegrityMonitor(atoms, policy=integrity)
        elif integrity is not None and not isinstance(integrity, IntegrityMonitor):
            raise TypeError(
                "integrity must be 'stop', 'flag', an IntegrityMonitor or None, got "
                f"{type(integrity).__name__}"
            )
        if integrity is not None:
            integrity.attach(self.dir, write=self.master)
        self.integrity = integrity

    # -- dynamics ---------------------------------------------------------------------------
    def _make_dynamics(self):
        s = self.settings
        dt = s.timestep_fs * units.fs
        if s.ensemble == "langevin":
            return Langevin(
                self.atoms, dt, temperature_K=s.temperature_K,
                friction=s.friction_per_fs / units.fs, fixcm=False, rng=self.rng, comm=self.comm,
            )  # fmt: skip
        if s.ensemble == "bussi":
            return Bussi(
                self.atoms, dt, temperature_K=s.temperature_K, taut=s.taut_fs * units.fs,
                rng=self.rng, comm=self.comm,
            )  # fmt: skip
        return VelocityVerlet(self.atoms, dt, comm=self.comm)

    def _set_target(self, dyn, step: int) -> None:
        """Thermostat target for the step after ``step`` (the heating ramp)."""
        s = self.settings
        if not s.heat_steps or step > s.heat_steps:
            return
        t = s.target_temperature_K(step)
        if isinstance(dyn, Langevin):
            dyn.set_temperature(temperature_K=t)
        elif isinstance(dyn, Bussi):
            dyn.temp = t * units.kB
            dyn.target_kinetic_energy = 0.5 * dyn.temp * dyn.ndof

    def _check_integrity(self, step: int, last_good: Atoms | None) -> None:
        mon = self.integrity
        if mon is None or step % (mon.interval or self.settings.traj_interval):
            return
        mon(self.atoms, step, step * self.settings.timestep_fs, self.last_good_path, last_good)

    # -- checkpoints ------------------------------------------------------------------------
    def _write_checkpoint(self, step: int, n_frames: int, n_thermo: int, dyn) -> None:
        if not self.master:
            return
        _atomic_write_npz(
            self.ckpt_path,
            step=step,
            positions=self.atoms.get_positions(),
            momenta=self.atoms.get_momenta(),
            cell=self.atoms.cell.array,
            numbers=self.atoms.numbers,
            masses=self.atoms.get_masses(),
            rng_state=json.dumps(self.rng.bit_generator.state),
            transferred_energy=getattr(dyn, "transferred_energy", 0.0),
            n_frames=n_frames,
            n_thermo=n_thermo,
            settings=json.dumps(asdict(self.settings)),
        )

    def _load_checkpoint(self) -> dict | None:
        if not self.ckpt_path.exists():
            return None
        with np.load(self.ckpt_path) as data:
            ck = {k: data[k] for k in data.files}
        saved = json.loads(str(ck["settings"]))
        mine = asdict(self.settings)
        keys = ("timestep_fs", "ensemble", "temperature_K", "friction_per_fs", "taut_fs",
                "heat_from_K", "heat_steps")  # fmt: skip
        for key in keys:
            if saved.get(key, MDSettings.__dataclass_fields__[key].default) != mine[key]:
                raise ValueError(
                    f"checkpoint {self.ckpt_path} was written with {key}={saved[key]!r} but this "
                    f"run has {key}={mine[key]!r}; use the same settings or another output_dir"
                )
        if not np.array_equal(ck["numbers"], self.atoms.numbers):
            raise ValueError(
                f"checkpoint {self.ckpt_path} holds a different system (atomic numbers differ); "
                "use another output_dir"
            )
        if "masses" in ck and not np.allclose(ck["masses"], self.atoms.get_masses(), rtol=1e-9):
            k = int(np.flatnonzero(~np.isclose(ck["masses"], self.atoms.get_masses()))[0])
            raise ValueError(
                f"checkpoint {self.ckpt_path} was written with other masses (atom {k}: "
                f"{float(ck['masses'][k]):.4g} u there, {self.atoms.get_masses()[k]:.4g} u "
                "here): apply the same hydrogen mass repartitioning "
                "(multiscale.md.hmr.repartition_hydrogen_masses) before resuming, or use "
                "another output_dir"
            )
        return ck

    def _truncate_outputs(self, n_frames: int, n_thermo: int) -> None:
        """Drop frames / log lines written after the checkpoint (the run died before the next)."""
        if not self.master:
            return
        fmt = self.settings.traj_format
        if not self.traj_path.exists() and n_frames:
            raise ValueError(
                f"{self.traj_path} is missing but the checkpoint expects {n_frames} frames; "
                "restore the trajectory or start in a new output_dir"
            )
        if self.traj_path.exists():
            if fmt == "traj":
                with Trajectory(self.traj_path) as traj:
                    total = len(traj)  # complete frames only (ULM updates its index last)
            # extxyz has no index: always rewrite its first n_frames (a kill may leave half a frame)
            if fmt == "extxyz" or total != n_frames:
                frames = (
                    read(self.traj_path, index=f":{n_frames}", format=fmt, parallel=False)
                    if n_frames
                    else []
                )
                if len(frames) != n_frames:
                    raise ValueError(
                        f"{self.traj_path} has {len(frames)} frames but the checkpoint expects "
                        f"{n_frames}; restore the trajectory or start in a new output_dir"
                    )
                tmp = self.traj_path.with_name("tmp_" + self.traj_path.name)
                if fmt == "traj":
                    with Trajectory(tmp, "w", master=True) as traj:
                        for f in frames:
                            traj.write(f)
                else:
                    write(tmp, frames, format="extxyz", parallel=False)
                os.replace(tmp, self.traj_path)
        if self.thermo_path.exists():
            lines = self.thermo_path.read_text().splitlines()
            body = [ln for ln in lines if not ln.startswith("#")][:n_thermo]
            tmp = self.thermo_path.with_name("thermo.dat.tmp")
            tmp.write_text("\n".join([THERMO_HEADER, *body]) + "\n")
            os.replace(tmp, self.thermo_path)

    # -- output -----------------------------------------------------------------------------
    def _write_frame(self) -> None:
        if not self.master:
            return
        if self.settings.traj_format == "traj":
            with Trajectory(self.traj_path, "a", master=True) as traj:
                traj.write(self.atoms)
        else:
            write(self.traj_path, self.atoms, format="extxyz", append=True, parallel=False)

    def _thermo_row(self, step: int) -> list[float]:
        a = self.atoms
        epot = a.get_potential_energy()
        ekin = a.get_kinetic_energy()
        return [
            step,
            step * self.settings.timestep_fs,
            epot,
            ekin,
            a.get_temperature(),
            epot + ekin,
        ]

    def _check(self, step: int, last_good: Atoms | None) -> None:
        forces = self.atoms.get_forces()
        finite = bool(np.all(np.isfinite(forces)))
        fmax = float(np.max(np.linalg.norm(forces, axis=1))) if finite else np.inf
        temp = self.atoms.get_temperature()
        limit_t = self.settings.temperature_limit_K
        why = None
        if not np.all(np.isfinite(self.atoms.positions)) or not np.isfinite(fmax):
            why = "non-finite positions or forces"
        elif fmax > self.settings.max_force:
            why = f"max force {fmax:.3g} eV/Å > max_force={self.settings.max_force} eV/Å"
        elif not temp <= limit_t:
            why = f"temperature {temp:.4g} K > {limit_t:.4g} K"
        if why is None:
            return
        if last_good is None:  # step 0 of a fresh run: no step was taken, no good frame exists
            raise MDBlowUpError(
                f"the starting structure itself is bad: {why} at step {step}, before any MD "
                "step, so there is no good frame to keep. Check the structure for overlaps "
                "(check_min_distance), the calculator, and initial_temperature_K / "
                "max_temperature_K / max_force.",
                step=step,
                last_good=None,
            )
        if self.master:
            write(self.last_good_path, last_good, format="traj", parallel=False)
        raise MDBlowUpError(
            f"MD blew up at step {step}: {why}. The last good frame is in {self.last_good_path}. "
            "Reduce the time step (see multiscale.md.estimate_timestep), check the starting "
            "structure for overlaps, or check the calculator.",
            step=step,
            last_good=self.last_good_path,
        )

    # -- main loop --------------------------------------------------------------------------
    def run(self, steps: int) -> MDResult:
        """Advance until ``steps`` steps in total have been done, resuming if possible.

        Parameters
        ----------
        steps : int
            Total number of steps of the run (including those before a resume).

        Returns
        -------
        MDResult

        Raises
        ------
        MDBlowUpError
            Forces or temperature ran away (the last good frame is kept).
        multiscale.md.integrity.MDIntegrityError
            (A subclass of MDBlowUpError.) Molecules fell apart or atoms overlap, with the
            integrity policy ``"stop"`` (the last frame that passed is kept).
        """
        if isinstance(steps, bool) or not isinstance(steps, int | np.integer):
            raise TypeError(f"steps must be an integer, got {steps!r} ({type(steps).__name__})")
        if steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps}")
        steps = int(steps)
        s = self.settings
        ck = self._load_checkpoint()
        if ck is not None:
            start = int(ck["step"])
            if start > steps:
                raise ValueError(f"checkpoint is at step {start}, beyond steps={steps}")
            self.atoms.set_cell(ck["cell"])
            self.atoms.set_positions(ck["positions"], apply_constraint=False)
            self.atoms.set_momenta(ck["momenta"], apply_constraint=False)
            if callable(getattr(self.atoms.calc, "reset", None)):
                self.atoms.calc.reset()  # no state left over from an earlier run (see module doc)
            self.rng.bit_generator.state = json.loads(str(ck["rng_state"]))
            n_frames, n_thermo = int(ck["n_frames"]), int(ck["n_thermo"])
            self._truncate_outputs(n_frames, n_thermo)
            if self.integrity is not None:
                self.integrity.truncate(start)
        else:
            start, n_frames, n_thermo = 0, 0, 0
            if self.master:
                for p in (self.traj_path, self.thermo_path):
                    p.unlink(missing_ok=True)
            if self.integrity is not None:
                self.integrity.reset_files()
            if s.initial_temperature_K is not None:
                # comm given explicitly: ASE's default (world) would impose rank 0's draw
                thermalize_momenta(
                    self.atoms, s.initial_temperature_K, comm=self.comm, rng=self._velocity_rng
                )
                Stationary(self.atoms)
        dyn = self._make_dynamics()
        dyn.nsteps = start  # so ASE does not redo its step-0 bookkeeping on resume
        self._set_target(dyn, start)
        if ck is not None and hasattr(dyn, "transferred_energy"):
            dyn.transferred_energy = float(ck["transferred_energy"])
        thermo_rows: list[list[float]] = []
        thermo_fh = None
        if self.master:
            new = not self.thermo_path.exists()
            thermo_fh = open(self.thermo_path, "a")  # closed in finally
            if new:
                thermo_fh.write(THERMO_HEADER + "\n")
        last_good: Atoms | None = self.atoms.copy() if ck is not None else None
        bar = tqdm(
            total=steps, initial=start, unit="step", disable=not (self.progress and self.master),
            desc=f"MD {s.ensemble}",
        )  # fmt: skip
        fresh = ck is None

        def record(step: int) -> None:
            nonlocal n_frames, n_thermo, last_good
            if step % s.traj_interval == 0:
                self._write_frame()
                n_frames += 1
            row = self._thermo_row(step)
            thermo_rows.append(row)
            if thermo_fh is not None:
                thermo_fh.write(" ".join(f"{v:.10g}" for v in row) + "\n")
                thermo_fh.flush()
            n_thermo += 1
            if step % s.checkpoint_interval == 0 or step == steps:
                self._write_checkpoint(step, n_frames, n_thermo, dyn)
            last_good = self.atoms.copy()
            if step % 10 == 0:
                bar.set_postfix(T=f"{row[4]:.0f} K")

        try:
            if fresh:
                self._check(0, None)
                self._check_integrity(0, self.atoms.copy())
                record(0)
            for _ in dyn.irun(steps - start):
                step = dyn.nsteps
                if step == start:  # ASE yields once before the first step
                    continue
                self._check(step, last_good)
                self._check_integrity(step, last_good)
                self._set_target(dyn, step)
                bar.update(1)
                record(step)
                if self.callback is not None:
                    self.callback(step, self.atoms)
        finally:
            bar.close()
            if thermo_fh is not None:
                thermo_fh.close()
        return MDResult(
            atoms=self.atoms,
            steps=max(steps, start),
            resumed_from=start if ck is not None else None,
            trajectory=self.traj_path,
            checkpoint=self.ckpt_path,
            thermo=np.array(thermo_rows).reshape(-1, 6),
            integrity=self.integrity.summary() if self.integrity is not None else None,
        )
