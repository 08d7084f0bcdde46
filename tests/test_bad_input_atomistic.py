"""Bad input on the atomistic side is refused with a message that names it (issue #12, 5 and 7).

One test function per public entry point, parametrized over plausible mistakes: non-finite
positions in a trajectory, a too short trajectory, wrong types (``traj_interval=2.5``),
NaN parameters, unknown names. Each input here used to be accepted silently, give a
misleading message, or end in a library traceback. Every check runs before any MD step, SCF
or analysis, so the whole file takes a few seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.calculator import (
    CalculationFailed,
    Calculator,
    CalculatorSetupError,
    all_changes,
)
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from ase.io import Trajectory

from coupling import PySCFCalculator
from multiscale.extract import (
    ChargeDensityProfile,
    DensityProfile,
    MeanSquaredDisplacement,
    ParallelDiffusionProfile,
    PerpendicularDiffusionProfile,
    as_frames,
    block_average,
    einstein_diffusion,
    extract_transport_profile,
    solve_poisson_1d,
    unwrap_positions,
    yeh_hummer_correction,
)
from multiscale.md import MDBlowUpError, MDRunner, MDSettings, build_electrolyte, build_interface
from multiscale.md.builders import check_min_distance, n_salt_for
from multiscale.md.rdf import block_permutation_test, compare_rdf, compute_rdf
from multiscale.md.replicas import replica_seeds, run_replicas
from multiscale.md.timestep import estimate_timestep

NAN, INF = float("nan"), float("inf")


def ions(n_frames: int = 40, seed: int = 0) -> list[Atoms]:
    """Na4Cl4 at random positions in a 10 x 10 x 20 Å periodic cell (a well-formed trajectory)."""
    rng = np.random.default_rng(seed)
    return [
        Atoms("Na4Cl4", rng.uniform(0, 1, (8, 3)) * [10, 10, 20], cell=[10, 10, 20], pbc=True)
        for _ in range(n_frames)
    ]


def spoiled(kind: str) -> list[Atoms]:
    frames = ions()
    if kind == "nan_position":
        frames[3].positions[2, 1] = NAN
    elif kind == "inf_position":
        frames[7].positions[5] = INF
    elif kind == "nan_cell":
        frames[2].cell[2, 2] = NAN
    elif kind == "swapped":
        frames[1].numbers[[0, 4]] = frames[1].numbers[[4, 0]]
    elif kind == "fewer_atoms":
        frames[5] = frames[5][:-1]
    return frames


BAD_FRAMES = [
    ("nan_position", r"frame 3: atom 2 \(Na\) has a non-finite position.*frames\[:3\]"),
    ("inf_position", r"frame 7: atom 5 \(Cl\) has a non-finite position"),
    ("nan_cell", r"frame 2 has a non-finite cell"),
    ("swapped", r"frame 1: atom 0 is Cl but was Na in the first frame"),
    ("fewer_atoms", r"frame 5 has 7 atoms but the first frame has 8"),
]


# ------------------------------------------------------------------- frames / AnalysisBase
@pytest.mark.parametrize(("kind", "match"), BAD_FRAMES)
def test_as_frames_refuses_bad_frames(kind: str, match: str):
    with pytest.raises(ValueError, match=match):
        as_frames(spoiled(kind))


@pytest.mark.parametrize(("kind", "match"), BAD_FRAMES[:4])
def test_analysis_run_refuses_bad_frames_read_lazily(tmp_path: Path, kind: str, match: str):
    # an open ase.io.Trajectory is read frame by frame: AnalysisBase.run checks each one
    path = tmp_path / "t.traj"
    with Trajectory(path, "w") as traj:
        for f in spoiled(kind):
            traj.write(f)
    with Trajectory(path) as traj:
        analysis = DensityProfile(traj, {"Na": "Na"}, bin_width=2.0)
        with pytest.raises(ValueError, match=match):
            analysis.run()
    with pytest.raises(ValueError, match=match):  # a file name is read and checked at once
        as_frames(path)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"step": 0}, ValueError, r"step must be >= 1"),
        ({"step": -1}, ValueError, r"step must be >= 1 \(frames are analysed forward"),
        ({"start": 1.5}, TypeError, r"start must be an integer or None, got 1\.5"),
        ({"start": 100}, ValueError, r"no frames selected by start=100"),
    ],
)
def test_analysis_run_refuses_bad_slices(kwargs: dict, error: type, match: str):
    with pytest.raises(error, match=match):
        DensityProfile(ions(), {"Na": "Na"}, bin_width=2.0).run(**kwargs)


# ------------------------------------------------------------------------ DensityProfile
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"bin_width": NAN}, ValueError, r"bin_width must be a finite number > 0 Å, got nan"),
        ({"bin_width": INF}, ValueError, r"bin_width must be a finite number > 0 Å, got inf"),
        ({"bin_width": "0.5"}, ValueError, r"bin_width must be a finite number > 0 Å, got '0\.5'"),
        ({"bin_width": 25.0}, ValueError,
         r"bin_width=25\.0 Å is wider than the range binned \(the cell length along z, 20 Å\)"),
        ({"bin_width": 2.0, "z_range": (2.0, 3.0)}, ValueError,
         r"bin_width=2\.0 Å is wider than the range binned \(z_range=\(2, 3\), 1 Å\)"),
        ({"bins": 2.5}, ValueError, r"bins must be an integer >= 1, got 2\.5"),
        ({"bins": 0}, ValueError, r"bins must be an integer >= 1, got 0"),
        ({"z_range": (NAN, 5.0)}, ValueError, r"z_range must be two finite numbers"),
        ({"z_range": (1.0,)}, ValueError, r"z_range must be two finite numbers"),
        ({"z_range": "0:5"}, ValueError, r"z_range must be two finite numbers"),
        ({"timestep": -1.0}, ValueError, r"timestep must be a finite number > 0 fs, got -1\.0"),
        ({"timestep": NAN}, ValueError, r"timestep must be a finite number > 0 fs, got nan"),
        ({"timestep": "2"}, ValueError, r"timestep must be a finite number > 0 fs, got '2'"),
        ({"species": {"ions": ["Na", "Kk"]}}, ValueError,
         r"no atoms with symbols \['Kk'\] \(the frame has \['Cl', 'Na'\]\)"),
        ({"species": {"Na": None}}, TypeError, r"a selection is a symbol.*got NoneType"),
        ({"species": {"Na": []}}, ValueError, r"empty selection"),
    ],
)  # fmt: skip
def test_density_profile_refuses(kwargs: dict, error: type, match: str):
    kwargs = {"species": {"Na": "Na"}, **kwargs}
    with pytest.raises(error, match=match):
        DensityProfile(ions(), **kwargs)


# -------------------------------------------------------------------- diffusion profiles
@pytest.mark.parametrize(
    ("n_frames", "kwargs", "error", "match"),
    [
        (1, {}, ValueError, r"the trajectory has 1 frames.*lags up to 8 frames need more.*"
         r"at least 18 frames in all: run longer MD or use smaller lags"),
        (40, {"lags": (4, 30)}, ValueError, r"the trajectory has 40 frames.*at least 62 frames"),
        (40, {"n_blocks": 50}, ValueError, r"0 frames per block in n_blocks=50 blocks"),
        (40, {"n_blocks": 1}, ValueError, r"n_blocks must be an integer >= 2.*got 1"),
        (40, {"n_blocks": 2.5}, ValueError, r"n_blocks must be an integer >= 2.*got 2\.5"),
        (40, {"lags": (2.5, 4)}, ValueError, r"lags must be a non-empty list of integers >= 1"),
        (40, {"lags": "24"}, ValueError, r"lags must be a non-empty list of integers >= 1"),
        (40, {"lags": (0, 2)}, ValueError, r"lags must be a non-empty list of integers >= 1"),
        (40, {"lags": ()}, ValueError, r"lags must be a non-empty list of integers >= 1"),
        (40, {"timestep": None}, ValueError, r"timestep \(fs between stored frames\) is required"),
        (40, {"timestep": -2.0}, ValueError, r"timestep must be a finite number > 0 fs"),
        (40, {"bin_width": 15.0}, ValueError, r"D_perp needs at least 2 bins.*bin_width=15\.0"),
        (40, {"extrapolate": "yes"}, TypeError, r"extrapolate must be True or False"),
    ],
)  # fmt: skip
def test_perpendicular_diffusion_refuses(n_frames: int, kwargs: dict, error: type, match: str):
    kwargs = {"timestep": 1.0, "bin_width": 2.0, "lags": (2, 4, 8), "n_blocks": 2, **kwargs}
    with pytest.raises(error, match=match):
        PerpendicularDiffusionProfile(ions(n_frames), "Na", **kwargs).run()


def test_never_visited_bins_name_the_python_arguments():
    # Na stays below z = 3 Å of a 20 Å cell: the upper bins are never visited
    frames = ions(80)
    rng = np.random.default_rng(1)
    for f in frames:
        f.positions[:4, 2] = rng.uniform(0, 3, 4)
    with pytest.raises(ValueError, match=r"bins at z = \[.*\] Å \(lag 1 frames\) were never "
                       r"visited: narrow z_range .*wider bin_width"):  # fmt: skip
        PerpendicularDiffusionProfile(frames, "Na", 1.0, bin_width=2.0, lags=(1, 2)).run()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"min_survival": NAN}, r"min_survival must be a number in \[0, 1\), got nan"),
        ({"min_survival": 1.0}, r"min_survival must be a number in \[0, 1\), got 1\.0"),
        ({"lags": (1, 30)}, r"the trajectory has 40 frames"),
    ],
)
def test_parallel_diffusion_refuses(kwargs: dict, match: str):
    with pytest.raises(ValueError, match=match):
        ParallelDiffusionProfile(ions(), "Na", 1.0, bin_width=2.0, n_blocks=2, **kwargs).run()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: MeanSquaredDisplacement(ions(), "Na", 1.0, dims="q"), ValueError,
         r"dims must be one of"),
        (lambda: MeanSquaredDisplacement(ions(), "Na", 1.0, unwrap="no"), TypeError,
         r"unwrap must be True or False"),
        (lambda: einstein_diffusion(MeanSquaredDisplacement(ions(), "Na", 1.0).run(), 1, 20,
                                    n_points=1), ValueError,
         r"n_points must be an integer >= 2, got 1"),
        (lambda: einstein_diffusion(MeanSquaredDisplacement(ions(), "Na", 1.0).run(), NAN, 20),
         ValueError, r"fit_start must be a finite number of fs, got nan"),
        (lambda: einstein_diffusion("msd", 1, 20), TypeError,
         r"msd must be a MeanSquaredDisplacement"),
        (lambda: yeh_hummer_correction(NAN, 3e-9, 0.89e-3, 298.0), ValueError,
         r"D_pbc must be a finite number"),
        (lambda: yeh_hummer_correction(2e-9, 3e-9, NAN, 298.0), ValueError,
         r"viscosity must be > 0 and finite"),
        (lambda: unwrap_positions(np.full((3, 2, 3), NAN), np.eye(3) * 10, [True] * 3),
         ValueError, r"positions are non-finite at frame 0, atom 0"),
    ],
)  # fmt: skip
def test_msd_and_bulk_diffusion_refuse(call, error: type, match: str):
    with pytest.raises(error, match=match):
        call()


# ------------------------------------------------------------------------ electrostatics
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: ChargeDensityProfile(ions(), {"Na": NAN, "Cl": -1}), ValueError,
         r"charges must be finite numbers \(e\), got \{'Na': nan\}"),
        (lambda: ChargeDensityProfile(ions(), [1.0] * 7 + [NAN]), ValueError,
         r"per-atom charges must be finite; atom 7 is not"),
        (lambda: ChargeDensityProfile(ions(), ["a"] * 8), TypeError,
         r"charges must be a mapping, an array"),
        (lambda: ChargeDensityProfile(ions(), {"Na": 1, "Cl": -1}, water_model="TIP99"),
         ValueError, r"unknown water model: water_model='TIP99'; have \['SPC/E'"),
        (lambda: ChargeDensityProfile(ions(), {"Na": 1, "Cl": -1}, z_dipole=NAN), ValueError,
         r"z_dipole=nan Å must be a number inside the grid \[0, 20\] Å"),
        (lambda: ChargeDensityProfile(ions(), {"Na": 1, "Cl": -1}, boundary="vacuum"),
         ValueError, r'boundary must be "open", "periodic" or "dipole"'),
        (lambda: solve_poisson_1d(np.linspace(0, 10, 6), [0, 0, NAN, 0, 0]), ValueError,
         r"edges and rho must be finite"),
        (lambda: solve_poisson_1d(np.linspace(10, 0, 6), np.zeros(5)), ValueError,
         r"edges must be at least 2 strictly increasing bin edges"),
        (lambda: block_average(np.r_[np.zeros(40), NAN]), ValueError,
         r"samples contain NaN or inf \(first at index \[40\]\)"),
        (lambda: block_average(np.zeros(64), min_blocks=2.5), TypeError,
         r"min_blocks must be an integer, got 2\.5"),
    ],
)  # fmt: skip
def test_electrostatics_and_blocking_refuse(call, error: type, match: str):
    with pytest.raises(error, match=match):
        call()


# --------------------------------------------------------------- extract_transport_profile
GOOD = {
    "species": {"Na+": ("Na", 1), "Cl-": ("Cl", -1)},
    "timestep": 10.0,
    "temperature": 300.0,
    "bin_width": 2.0,
    "lags": (1, 2),
    "n_blocks": 2,
    "charges": {"Na": 1, "Cl": -1},
    "boundary": "periodic",
}


@pytest.mark.parametrize(
    ("frames", "kwargs", "error", "match"),
    [
        ("nan_position", {}, ValueError, r"frame 3: atom 2 \(Na\) has a non-finite position"),
        ("nan_cell", {}, ValueError, r"frame 2 has a non-finite cell"),
        (1, {}, ValueError, r"the trajectory has 1 frames.*run longer MD or use smaller lags"),
        (40, {"lags": (4, 25)}, ValueError, r"the trajectory has 40 frames.*at least 52 frames"),
        (40, {"temperature": 0.0}, ValueError, r"temperature must be a finite number > 0 K"),
        (40, {"temperature": NAN}, ValueError, r"temperature must be a finite number > 0 K"),
        (40, {"timestep": None}, ValueError, r"timestep \(fs between stored frames\) is required"),
        (40, {"timestep": -10.0}, ValueError, r"timestep must be a finite number > 0 fs"),
        (40, {"species": {"Na+": "Na"}}, ValueError,
         r"species\['Na\+'\] must be \(selection, integer charge number\)"),
        (40, {"species": {"Na+": ("Na", 1.5)}}, ValueError,
         r"species\['Na\+'\] must be \(selection, integer charge number\).*1\.5"),
        (40, {"species": {}}, TypeError, r"species must be a non-empty mapping"),
        (40, {"water_model": "TIP99"}, ValueError, r"unknown water model: water_model='TIP99'"),
        (40, {"water_model": "SPC/E", "charges": None}, ValueError,
         r"water_model='SPC/E' is only used for the charge density: also pass charges"),
        (40, {"boundary": "vacuum"}, ValueError, r'boundary must be "open", "periodic"'),
        (40, {"bin_width": 30.0}, ValueError, r"bin_width=30\.0 Å is wider than the range"),
        (40, {"n_blocks": 1}, ValueError, r"n_blocks must be an integer >= 2"),
        (40, {"parallel": "yes"}, TypeError, r"parallel must be True or False"),
    ],
)  # fmt: skip
def test_extract_transport_profile_refuses(frames, kwargs: dict, error: type, match: str):
    trajectory = spoiled(frames) if isinstance(frames, str) else ions(frames)
    with pytest.raises(error, match=match):
        extract_transport_profile(trajectory, **{**GOOD, **kwargs})


# ----------------------------------------------------------------------------- MDSettings
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"traj_interval": 2.5}, TypeError, r"traj_interval must be an integer, got 2\.5 \(float"),
        ({"traj_interval": 10.0}, TypeError, r"traj_interval must be an integer, got 10\.0"),
        ({"traj_interval": True}, TypeError, r"traj_interval must be an integer, got True"),
        ({"traj_interval": 0}, ValueError, r"traj_interval must be an integer >= 1, got 0"),
        ({"checkpoint_interval": "100"}, TypeError, r"checkpoint_interval must be an integer"),
        ({"seed": -1}, ValueError, r"seed must be an integer >= 0, got -1"),
        ({"seed": 1.5}, TypeError, r"seed must be an integer, got 1\.5"),
        ({"seed": False}, TypeError, r"seed must be an integer, got False"),
        ({"timestep_fs": "1"}, TypeError, r"timestep_fs must be a number \(fs\)"),
        ({"timestep_fs": INF}, ValueError, r"timestep_fs must be a finite number > 0 fs"),
        ({"friction_per_fs": NAN}, ValueError, r"friction_per_fs must be a finite number > 0"),
        ({"taut_fs": -5.0}, ValueError, r"taut_fs must be a finite number > 0 fs"),
        ({"max_force": 0}, ValueError, r"max_force must be a finite number > 0 eV/Å"),
        ({"temperature_K": INF}, ValueError, r"temperature_K must be a finite number > 0 K"),
        ({"temperature_K": -300.0}, ValueError, r"temperature_K must be a finite number > 0 K"),
        ({"initial_temperature_K": -5.0}, ValueError,
         r"initial_temperature_K must be a finite number >= 0 K, got -5\.0"),
        ({"initial_temperature_K": NAN}, ValueError,
         r"initial_temperature_K must be a finite number >= 0 K"),
        ({"initial_temperature_K": "300"}, TypeError,
         r"initial_temperature_K must be a number or None \(K\)"),
        ({"max_temperature_K": 0.0}, ValueError, r"max_temperature_K must be a finite number > 0"),
        ({"max_temperature_K": -5.0}, ValueError, r"max_temperature_K must be a finite number > 0"),
        ({"max_temperature_K": NAN}, ValueError, r"max_temperature_K must be a finite number > 0"),
        ({"max_temperature_K": 200.0}, ValueError,
         r"temperature_K=300\.0 K is not below the blow-up limit 200 K"),
        ({"initial_temperature_K": 5000.0}, ValueError,
         r"initial_temperature_K=5000\.0 K is not below the blow-up limit 3000 K"),
        ({"ensemble": ["nve"]}, ValueError, r"ensemble must be one of"),
        ({"traj_format": None}, ValueError, r"traj_format must be one of"),
        ({"fix_com": "yes"}, TypeError, r"fix_com must be True or False"),
        ({"heat_steps": 2.5}, TypeError, r"heat_steps must be an integer"),
        ({"heat_from_K": NAN, "heat_steps": 10}, ValueError, r"heat_from_K must be a finite"),
    ],
)  # fmt: skip
def test_md_settings_refuse(kwargs: dict, error: type, match: str):
    with pytest.raises(error, match=match):
        MDSettings(**{"timestep_fs": 1.0, **kwargs})


def test_md_settings_store_plain_python_values():
    # numpy scalars are accepted and stored as Python ints/floats (the checkpoint is JSON)
    s = MDSettings(timestep_fs=np.float32(1.0), seed=np.int64(3), traj_interval=np.int32(5))
    assert type(s.seed) is int and type(s.traj_interval) is int and type(s.timestep_fs) is float


# -------------------------------------------------------------------------------- MDRunner
def cu() -> Atoms:
    atoms = bulk("Cu", cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.02, seed=3)
    atoms.calc = EMT()
    return atoms


def with_nan_position() -> Atoms:
    atoms = cu()
    atoms.positions[4, 0] = NAN
    return atoms


def with_inf_momentum() -> Atoms:
    atoms = cu()
    p = np.zeros((len(atoms), 3))
    p[6, 2] = INF
    atoms.set_momenta(p)
    return atoms


@pytest.mark.parametrize(
    ("make", "kwargs", "steps", "error", "match"),
    [
        (with_nan_position, {}, 1, ValueError,
         r"atom 4 \(Cu\) has a non-finite position .*the starting structure is corrupt"),
        (with_inf_momentum, {}, 1, ValueError, r"atom 6 \(Cu\) has a non-finite momentum"),
        (cu, {"min_distance": NAN}, 1, ValueError, r"min_distance must be a finite number >= 0"),
        (cu, {}, 2.5, TypeError, r"steps must be an integer, got 2\.5"),
        (cu, {}, "10", TypeError, r"steps must be an integer, got '10'"),
        (cu, {}, -1, ValueError, r"steps must be a non-negative integer, got -1"),
    ],
)  # fmt: skip
def test_md_runner_refuses(tmp_path: Path, make, kwargs: dict, steps, error: type, match: str):
    with pytest.raises(error, match=match):
        MDRunner(make(), tmp_path, MDSettings(timestep_fs=1.0), progress=False, **kwargs).run(steps)


class Repulsive(Calculator):
    """Huge constant forces: any structure fails the force check at once."""

    implemented_properties = ("energy", "forces")

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        f = np.zeros((len(self.atoms), 3))
        f[0, 0] = 1e4
        self.results = {"energy": 0.0, "forces": f}


def test_blow_up_at_step_zero_names_no_missing_file(tmp_path: Path):
    atoms = cu()
    atoms.calc = Repulsive()
    with pytest.raises(MDBlowUpError, match=r"the starting structure itself is bad: max force "
                       r"[0-9.e+]+ eV/Å > max_force=50\.0 eV/Å at step 0") as info:  # fmt: skip
        MDRunner(atoms, tmp_path, MDSettings(timestep_fs=1.0), progress=False).run(5)
    assert info.value.step == 0
    assert info.value.last_good is None
    assert "last_good.traj" not in str(info.value)
    assert not (tmp_path / "last_good.traj").exists()


# ---------------------------------------------------- resume of a stateful calculator
N_LJ = 20
LJ_KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from test_bad_input_atomistic import lj_argon, lj_settings
    from multiscale.md import MDRunner

    def die(step, atoms):
        if step == {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)

    MDRunner(lj_argon(), {out!r}, lj_settings(), progress=False, callback=die).run({total})
    """
)


def lj_argon() -> Atoms:
    atoms = bulk("Ar", "fcc", a=5.26, cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.05, seed=1)
    atoms.calc = LennardJones(sigma=3.4, epsilon=0.0104, rc=5.0)
    return atoms


def lj_settings() -> MDSettings:
    return MDSettings(
        timestep_fs=10.0, temperature_K=120.0, initial_temperature_K=120.0, seed=5,
        traj_interval=5, checkpoint_interval=N_LJ, max_temperature_K=2000.0,
    )  # fmt: skip


def test_resume_of_a_stateful_calculator_agrees_to_round_off(tmp_path: Path):
    """ASE's LennardJones keeps a neighbour list: after a kill, the resumed run builds it at
    the checkpoint geometry and sums the pairs in another order, so it is not bit-identical
    to the uninterrupted run (measured: 5e-14 Å after 80 steps). Round-off of ~1e-16 relative
    per force call, amplified over 60 steps of chaotic dynamics (well under e^3 in 0.6 ps),
    stays far below the 1e-10 Å tolerance; a wrongly restored state (other noise, other
    momenta) differs by ~0.1 Å."""
    total = 4 * N_LJ
    ref = MDRunner(lj_argon(), tmp_path / "straight", lj_settings(), progress=False).run(total)
    out = tmp_path / "killed"
    script = LJ_KILL_SCRIPT.format(
        tests=str(Path(__file__).parent), kill_at=N_LJ + 7, out=str(out), total=total
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    resumed = MDRunner(lj_argon(), out, lj_settings(), progress=False).run(total)
    assert resumed.resumed_from == N_LJ
    np.testing.assert_allclose(resumed.atoms.positions, ref.atoms.positions, rtol=0, atol=1e-10)
    np.testing.assert_allclose(resumed.atoms.get_momenta(), ref.atoms.get_momenta(), atol=1e-10)
    other = MDSettings(**{**lj_settings().__dict__, "seed": 6})
    moved = MDRunner(lj_argon(), tmp_path / "other", other, progress=False).run(total)
    assert np.abs(moved.atoms.positions - ref.atoms.positions).max() > 1e-3


def test_resume_resets_the_calculator(tmp_path: Path):
    atoms = lj_argon()
    MDRunner(atoms, tmp_path, lj_settings(), progress=False).run(N_LJ)
    calc = atoms.calc
    calls = []
    original = calc.reset
    calc.reset = lambda: (calls.append(True), original())[1]
    MDRunner(atoms, tmp_path, lj_settings(), progress=False).run(N_LJ + 2)
    assert calls  # the resumed run started from a clean calculator state


# ------------------------------------------------------------------------ PySCFCalculator
def h2() -> Atoms:
    return Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.74]])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"conv_tol": NAN}, r"conv_tol must be a finite number > 0 \(Hartree\), got nan"),
        ({"conv_tol": INF}, r"conv_tol must be a finite number > 0 \(Hartree\), got inf"),
        ({"conv_tol": 0.0}, r"conv_tol must be a finite number > 0"),
        ({"conv_tol": "1e-9"}, r"conv_tol must be a finite number > 0 \(Hartree\), got '1e-9'"),
        ({"conv_tol_grad": NAN}, r"conv_tol_grad must be a finite number > 0, got nan"),
        ({"max_cycle": "abc"}, r"max_cycle must be an integer >= 1 .*got 'abc'"),
        ({"max_cycle": 2.5}, r"max_cycle must be an integer >= 1 .*got 2\.5"),
        ({"max_cycle": 0}, r"max_cycle must be an integer >= 1"),
        ({"max_cycle": True}, r"max_cycle must be an integer >= 1 .*got True"),
        ({"grids_level": 99}, r"grids_level must be an integer 0\.\.9 .*got 99"),
        ({"grids_level": -1}, r"grids_level must be an integer 0\.\.9"),
        ({"grids_level": 2.0}, r"grids_level must be an integer 0\.\.9 .*got 2\.0"),
        ({"aspc_order": -1}, r"aspc_order must be an integer >= 0"),
        ({"max_memory": -5}, r"max_memory must be a finite number > 0 \(MB\)"),
        ({"verbose": "x"}, r"verbose must be an integer 0\.\.9"),
        ({"grid_response": "yes"}, r"grid_response must be True or False"),
        ({"dispersion": "xyz"}, r"unknown dispersion correction 'xyz': use one of \['d3bj'"),
        ({"density_fit": "nonsense-aux"}, r"density_fit='nonsense-aux': unknown auxiliary basis"),
        ({"density_fit": 3}, r"density_fit must be True/False or an auxiliary basis name"),
        ({"basis": 42}, r"basis must be a name or a dict"),
        ({"basis": "nonsense-basis"}, r"unknown basis set 'nonsense-basis'"),
        ({"xc": "nonsense"}, r"unknown exchange-correlation functional 'nonsense'"),
        ({"charge": 1.0}, r"charge must be an integer, got 1\.0"),
        ({"spin": True}, r"spin must be an integer, got True"),
    ],
)
def test_pyscf_calculator_refuses_bad_parameters(kwargs: dict, match: str):
    with pytest.raises(CalculatorSetupError, match=match):
        PySCFCalculator(**{"xc": "lda", "basis": "sto-3g", **kwargs})


def test_pyscf_calculator_accepts_a_basis_without_hydrogen():
    # lanl2tz has no H: it is still a basis PySCF knows, not "unknown"
    assert PySCFCalculator(basis="lanl2tz").parameters["basis"] == "lanl2tz"


def water_nan() -> Atoms:
    atoms = molecule("H2O")
    atoms.positions[2, 1] = NAN
    return atoms


def h_atom() -> Atoms:
    return Atoms("H", positions=[[0, 0, 0]])


@pytest.mark.parametrize(
    ("make", "kwargs", "error", "match"),
    [
        (water_nan, {}, CalculationFailed,
         r"atom 2 \(H\) has a non-finite position .*1 of 3 atoms.*no SCF was run"),
        (h_atom, {}, CalculatorSetupError, r"1 electrons cannot have spin \(2S\) = 0"),
        (h2, {"charge": 1}, CalculatorSetupError, r"1 electrons cannot have spin \(2S\) = 0"),
        (h2, {"charge": 2}, CalculatorSetupError, r"charge 2 leaves 0 electrons"),
        (h2, {"spin": 4}, CalculatorSetupError, r"2 electrons cannot have spin|spin 4 exceeds"),
    ],
)  # fmt: skip
def test_pyscf_calculator_refuses_bad_structures_before_any_scf(
    make, kwargs: dict, error: type, match: str
):
    atoms = make()
    atoms.calc = PySCFCalculator(xc="lda", basis="sto-3g", **kwargs)
    with pytest.raises(error, match=match):
        atoms.get_forces()
    assert atoms.calc.mf is None  # no SCF was run


# ------------------------------------------------------------------------------ builders
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"salt": "NaBr"}, ValueError, r"unknown salt 'NaBr'; choose one of"),
        ({"salt": ["NaCl"]}, ValueError, r"unknown salt \['NaCl'\]"),
        ({"concentration": -1.0}, ValueError, r"concentration must be a finite number >= 0"),
        ({"concentration": NAN}, ValueError, r"concentration must be a finite number >= 0"),
        ({"concentration": "1"}, TypeError, r"concentration must be a number \(mol/L\)"),
        ({"n_water": 8.5}, TypeError, r"n_water must be an integer, got 8\.5"),
        ({"n_water": 0}, ValueError, r"n_water must be an integer >= 1"),
        ({"density": NAN}, ValueError, r"density must be a finite number > 0 g/cm\^3"),
        ({"seed": -1}, ValueError, r"seed must be an integer >= 0"),
        ({"min_distance": NAN}, ValueError, r"min_distance must be a finite number > 0 Å"),
    ],
)
def test_build_electrolyte_refuses(kwargs: dict, error: type, match: str):
    with pytest.raises(error, match=match):
        build_electrolyte(**{"n_water": 8, "concentration": 0.0, **kwargs})


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"metal": "Xx"}, ValueError, r"metal must be an element symbol such as 'Cu'.*'Xx'"),
        ({"metal": "Fe"}, ValueError,
         r"metal='Fe' is not fcc \(its reference structure is bcc\).*facet='fcc111'"),
        ({"facet": "hcp0001"}, ValueError, r"unknown facet 'hcp0001'"),
        ({"size": (4,)}, ValueError, r"size must be two positive integers \(nx, ny\)"),
        ({"size": (0, 2)}, ValueError, r"size must be two positive integers"),
        ({"size": (2.5, 2)}, ValueError, r"size must be two positive integers"),
        ({"size": (3, 3)}, ValueError, r"ny must be even for an orthogonal fcc111 cell"),
        ({"layers": 2}, ValueError, r"slab too thin: 2 layers; use layers >= 3"),
        ({"layers": 3.5}, TypeError, r"layers must be an integer, got 3\.5"),
        ({"water_thickness": NAN}, ValueError, r"water_thickness must be a finite number > 0"),
        ({"water_thickness": 4.0}, ValueError, r"water_thickness=4\.0 Å is too thin"),
        ({"gap": NAN}, ValueError, r"gap must be a finite number > 0 Å"),
        ({"vacuum": INF}, ValueError, r"vacuum must be a finite number >= 0 Å, got inf"),
        ({"salt": "NaBr"}, ValueError, r"unknown salt 'NaBr'"),
        ({"salt": "NaCl", "concentration": -0.5}, ValueError, r"concentration must be a finite"),
    ],
)  # fmt: skip
def test_build_interface_refuses(kwargs: dict, error: type, match: str):
    kwargs = {"size": (2, 2), "layers": 3, "water_thickness": 6.0, "salt": None, **kwargs}
    with pytest.raises(error, match=match):
        build_interface(**kwargs)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: n_salt_for(1.0, 30, salt="NaBr"), ValueError, r"unknown salt 'NaBr'"),
        (lambda: n_salt_for(1.0, 30.5), TypeError, r"n_water must be an integer"),
        (lambda: check_min_distance(Atoms("H2", [[0, 0, 0], [NAN, 0, 0]]), 0.5), ValueError,
         r"atom 1 \(H\) has a non-finite position"),
        (lambda: check_min_distance(cu(), NAN), ValueError, r"min_distance must be a finite"),
    ],
)  # fmt: skip
def test_builder_helpers_refuse(call, error: type, match: str):
    with pytest.raises(error, match=match):
        call()


# ------------------------------------------------------- time step, g(r), replicas
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"safety": NAN}, ValueError, r"safety must be in \(0, 1\], got nan"),
        ({"safety": "0.2"}, TypeError, r"safety must be a number, got '0\.2'"),
        ({"safety": 0.0}, ValueError, r"safety must be in \(0, 1\]"),
        ({"method": "exact"}, ValueError, r"method must be 'lanczos' or 'hessian'"),
        ({"delta": NAN}, ValueError, r"delta must be a finite number in \(0, 0\.1\] Å"),
        ({"delta": 0.5}, ValueError, r"delta must be a finite number in \(0, 0\.1\] Å .*got 0\.5"),
        ({"tol": -1.0}, ValueError, r"tol must be a finite number >= 0"),
    ],
)  # fmt: skip
def test_estimate_timestep_refuses(kwargs: dict, error: type, match: str):
    with pytest.raises(error, match=match):
        estimate_timestep(cu(), **kwargs)


def test_estimate_timestep_refuses_bad_structures():
    with pytest.raises(ValueError, match=r"atom 4 \(Cu\) has a non-finite position"):
        estimate_timestep(with_nan_position())
    with pytest.raises(TypeError, match=r"atoms must be an ase.Atoms, got list"):
        estimate_timestep([cu()])


def water_frames(n: int = 4) -> list[Atoms]:
    return [build_electrolyte(n_water=8, concentration=0.0, seed=k) for k in range(n)]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda f: compute_rdf(f, [("O", "O")], r_max=NAN), ValueError,
         r"r_max must be a finite number > 0 Å, got nan"),
        (lambda f: compute_rdf(f, [("O", "O")], n_bins=2.5), TypeError,
         r"n_bins must be an integer, got 2\.5"),
        (lambda f: compute_rdf(f, [("O", "O")], n_blocks=1), ValueError,
         r"n_blocks must be an integer >= 2"),
        (lambda f: compute_rdf(f, "OO"), ValueError, r"pairs must be a list of"),
        (lambda f: compute_rdf(f, [("O",)]), ValueError, r"pairs must be a non-empty list"),
        (lambda f: compute_rdf(f[0], [("O", "O")]), TypeError, r"got a single Atoms object"),
        (lambda f: compute_rdf([*f[:2], _nan_copy(f[2])], [("O", "O")]), ValueError,
         r"frame 2: atom 3 is not finite.*frames\[:2\]"),
        (lambda f: block_permutation_test(np.full((20, 3), NAN), np.zeros((20, 3)), 4),
         ValueError, r"the series contain NaN or inf"),
        (lambda f: block_permutation_test(np.zeros((20, 3)), np.zeros((20, 3)), 4.5),
         TypeError, r"n_blocks must be an integer, got 4\.5"),
        (lambda f: compare_rdf(*[compute_rdf(f, [("O", "O")], n_blocks=2)] * 2, ("O", "O"),
                               alpha=NAN), ValueError, r"alpha must be a number in \(0, 1\)"),
    ],
)  # fmt: skip
def test_rdf_refuses(call, error: type, match: str):
    frames = water_frames()
    with pytest.raises(error, match=match):
        call(frames)


def _nan_copy(atoms: Atoms) -> Atoms:
    out = atoms.copy()
    out.positions[3] = NAN
    return out


class _Comm:
    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 1

    def allgather(self, obj):
        return [obj]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda tmp: replica_seeds(-1, 2), ValueError, r"base_seed must be an integer >= 0"),
        (lambda tmp: replica_seeds(0, 2.5), TypeError, r"n_replicas must be an integer, got 2\.5"),
        (lambda tmp: replica_seeds(0, 0), ValueError, r"n_replicas must be an integer >= 1"),
        (lambda tmp: run_replicas(lambda k: cu(), 2, 2.5, tmp, MDSettings(timestep_fs=1.0),
                                  _Comm()), TypeError, r"steps must be an integer, got 2\.5"),
        (lambda tmp: run_replicas(lambda k: cu(), 2, 5, 42, MDSettings(timestep_fs=1.0),
                                  _Comm()), TypeError, r"output_dir must be a str or Path"),
        (lambda tmp: run_replicas(lambda k: cu(), 2, 5, tmp, MDSettings(timestep_fs=1.0), None),
         TypeError, r"comm must be an mpi4py communicator"),
    ],
)  # fmt: skip
def test_replicas_refuse(tmp_path: Path, call, error: type, match: str):
    with pytest.raises(error, match=match):
        call(tmp_path)
