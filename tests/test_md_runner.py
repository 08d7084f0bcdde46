"""MD runner: bit-for-bit restart after a real kill, unwrapped trajectories, blow-up detection."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.calculators.emt import EMT
from ase.io import read

from multiscale.md import MDBlowUpError, MDRunner, MDSettings

N = 20  # steps before the kill; the full run is 2N


class HarmonicBond(Calculator):
    """E = k/2 (|r1 - r0| - d0)^2 between atoms 0 and 1 (minimum image ignored)."""

    implemented_properties = ("energy", "forces")

    def __init__(self, k: float = 30.0, d0: float = 1.0):
        super().__init__()
        self.k, self.d0 = k, d0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        r = self.atoms.positions[1] - self.atoms.positions[0]
        d = np.linalg.norm(r)
        f1 = -self.k * (d - self.d0) * r / d
        self.results = {"energy": 0.5 * self.k * (d - self.d0) ** 2, "forces": np.array([-f1, f1])}


def cu_system() -> Atoms:
    atoms = bulk("Cu", cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.02, seed=3)
    atoms.calc = EMT()
    return atoms


def settings(ensemble: str, fmt: str = "traj") -> MDSettings:
    return MDSettings(
        timestep_fs=5.0, ensemble=ensemble, temperature_K=500.0, seed=42,
        initial_temperature_K=500.0, traj_interval=3, checkpoint_interval=N, traj_format=fmt,
    )  # fmt: skip


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_md_runner import cu_system, settings
    from multiscale.md import MDRunner

    def die(step, atoms):
        if step == {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no flushing: a real kill

    runner = MDRunner(
        cu_system(), {out!r}, settings({ensemble!r}, {fmt!r}), progress=False, callback=die
    )
    runner.run({total})
    """
)


@pytest.mark.parametrize(
    ("ensemble", "kill_at", "fmt"),
    [
        ("langevin", N + 7, "traj"),
        ("bussi", N + 7, "traj"),
        ("nve", N + 7, "traj"),
        ("langevin", 5, "traj"),  # killed before the first checkpoint after step 0
        ("langevin", N + 7, "extxyz"),
    ],
)
def test_killed_run_resumes_bit_for_bit(tmp_path: Path, ensemble: str, kill_at: int, fmt: str):
    straight = MDRunner(cu_system(), tmp_path / "straight", settings(ensemble, fmt), progress=False)
    ref = straight.run(2 * N)

    out = tmp_path / "killed"
    script = KILL_SCRIPT.format(
        tests=str(Path(__file__).parent), kill_at=kill_at, out=str(out), ensemble=ensemble, fmt=fmt,
        total=2 * N,
    )  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    # the killed run wrote frames beyond its last checkpoint (at 0 or N)
    last_checkpoint = N * (kill_at // N)
    traj_name = f"trajectory.{fmt}"
    assert len(read(out / traj_name, ":")) > len(range(0, last_checkpoint + 1, 3))

    resumed = MDRunner(cu_system(), out, settings(ensemble, fmt), progress=False).run(2 * N)
    assert resumed.resumed_from == last_checkpoint
    assert resumed.steps == 2 * N
    np.testing.assert_allclose(resumed.atoms.positions, ref.atoms.positions, rtol=0, atol=1e-12)
    np.testing.assert_allclose(resumed.atoms.get_momenta(), ref.atoms.get_momenta(), atol=1e-12)
    # trajectory and thermo log: same frames, nothing duplicated
    a = read(tmp_path / "straight" / traj_name, ":")
    b = read(out / traj_name, ":")
    assert len(a) == len(b) == len(range(0, 2 * N + 1, 3))
    resumed.plot(tmp_path / "thermo.png")
    assert (tmp_path / "thermo.png").stat().st_size > 1000
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_allclose(fa.positions, fb.positions, rtol=0, atol=1e-12)
    ta = np.loadtxt(tmp_path / "straight" / "thermo.dat")
    tb = np.loadtxt(out / "thermo.dat")
    assert ta.shape == tb.shape == (2 * N + 1, 6)
    np.testing.assert_allclose(ta, tb, rtol=1e-9, atol=1e-12)
    assert np.array_equal(tb[:, 0], np.arange(2 * N + 1))


def test_different_seeds_give_different_langevin_paths(tmp_path: Path):
    a = MDRunner(cu_system(), tmp_path / "a", settings("langevin"), progress=False).run(10)
    s = MDSettings(**{**settings("langevin").__dict__, "seed": 43})
    b = MDRunner(cu_system(), tmp_path / "b", s, progress=False).run(10)
    assert np.abs(a.atoms.positions - b.atoms.positions).max() > 1e-4


def test_checkpoint_with_other_settings_is_refused(tmp_path: Path):
    MDRunner(cu_system(), tmp_path, settings("langevin"), progress=False).run(2)
    other = MDSettings(timestep_fs=2.0, seed=42)
    with pytest.raises(ValueError, match=r"timestep_fs.*another output_dir"):
        MDRunner(cu_system(), tmp_path, other, progress=False).run(4)


def test_trajectory_positions_are_unwrapped(tmp_path: Path):
    # a diatomic drifting through a small periodic box: positions must leave the cell
    atoms = Atoms("H2", positions=[[1, 1, 1], [2, 1, 1]], cell=[4, 4, 4], pbc=True)
    atoms.calc = HarmonicBond()
    atoms.set_velocities([[0.5, 0, 0], [0.5, 0, 0]])  # Å per ASE time unit
    s = MDSettings(
        timestep_fs=0.5, ensemble="nve", initial_temperature_K=None, fix_com=False,
        traj_interval=10, traj_format="extxyz",
    )  # fmt: skip
    res = MDRunner(atoms, tmp_path, s, progress=False).run(400)
    frames = read(res.trajectory, ":")
    x = np.array([f.positions[:, 0].mean() for f in frames])
    assert x[-1] > 4.0 + 1.5  # left the cell; a wrapped file would stay inside [0, 4)
    assert np.all(np.diff(x) > 0)  # monotonic drift: no jumps back by a cell length
    # the centre of mass moves with its initial velocity (NVE conserves momentum)
    v = 0.5
    t = 400 * s.timestep_fs * units.fs
    assert x[-1] == pytest.approx(1.5 + v * t, abs=1e-6)  # extxyz stores 8 decimals


def test_blow_up_is_caught_and_last_good_frame_kept(tmp_path: Path):
    atoms = Atoms("H2", positions=[[0, 0, 0], [1.2, 0, 0]], cell=[20, 20, 20], pbc=True)
    atoms.calc = HarmonicBond(k=30.0)
    # omega = sqrt(k/mu): dt far above 2/omega makes Verlet diverge exponentially
    s = MDSettings(timestep_fs=10.0, ensemble="nve", initial_temperature_K=None, max_force=100)
    with pytest.raises(MDBlowUpError, match=r"blew up at step .*max force.*Reduce the time step"):
        MDRunner(atoms, tmp_path, s, progress=False).run(200)
    last = read(tmp_path / "last_good.traj")
    assert np.all(np.isfinite(last.positions))
    d = np.linalg.norm(last.positions[1] - last.positions[0])
    assert 30.0 * abs(d - 1.0) <= 100  # the kept frame is below the force limit


def test_bad_input_gives_clear_errors(tmp_path: Path):
    atoms = cu_system()
    atoms.positions[1] = atoms.positions[0] + [0.1, 0, 0]
    with pytest.raises(ValueError, match=r"overlap: 0\.100 Å apart"):
        MDRunner(atoms, tmp_path, MDSettings(timestep_fs=1.0))
    with pytest.raises(ValueError, match="no calculator"):
        MDRunner(bulk("Cu"), tmp_path, MDSettings(timestep_fs=1.0))
    with pytest.raises(ValueError, match="ensemble must be one of"):
        MDSettings(timestep_fs=1.0, ensemble="npt")
    with pytest.raises(ValueError, match="timestep_fs must be a finite number > 0"):
        MDSettings(timestep_fs=-1.0)
    with pytest.raises(TypeError, match="settings must be an MDSettings"):
        MDRunner(cu_system(), tmp_path, {"timestep_fs": 1.0})
