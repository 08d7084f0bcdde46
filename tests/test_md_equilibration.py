"""Equilibration from the data (pymbar) and the relax + heat preparation before production."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from multiscale.md import (
    MDRunner,
    MDSettings,
    analyse_equilibration,
    detect_equilibration,
    prepare_md,
    statistical_inefficiency,
)


def ar1(n: int, phi: float, seed: int) -> np.ndarray:
    """Stationary AR(1) with unit innovations: variance 1 / (1 - phi^2)."""
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0] / np.sqrt(1 - phi**2)
    for k in range(1, n):
        x[k] = phi * x[k - 1] + e[k]
    return x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stationary_ar1_starts_at_zero_with_the_analytic_inefficiency(seed):
    phi = 0.8
    res = detect_equilibration(ar1(20000, phi, seed))
    assert res.t0 < 0.05 * res.n
    g_exact = (1 + phi) / (1 - phi)  # 9
    assert res.g == pytest.approx(g_exact, rel=0.2)
    assert res.n_effective == pytest.approx((res.n - res.t0) / res.g)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exponential_relaxation_is_cut_where_it_reaches_the_noise(seed):
    phi, tau, n = 0.8, 200.0, 5000
    sigma = 1 / np.sqrt(1 - phi**2)
    amplitude = 10 * sigma
    x = amplitude * np.exp(-np.arange(n) / tau) + ar1(n, phi, seed)
    res = detect_equilibration(x)
    known = tau * np.log(amplitude / sigma)  # where the transient falls to one noise sigma
    assert 0.5 * known < res.t0 < 2.0 * known
    # the production part has no measurable bias left
    prod = x[res.t0 :]
    sem = prod.std(ddof=1) * np.sqrt(statistical_inefficiency(prod) / prod.size)
    assert abs(prod.mean()) < 4 * sem


def synthetic_thermo(n=4000, t_mean=300.0, drift_eV_per_ps=0.0, seed=0) -> np.ndarray:
    dt_fs = 0.5
    step = np.arange(n)
    time_fs = step * dt_fs
    relax = np.exp(-step / 150.0)
    temp = t_mean + 150.0 * relax + 5.0 * ar1(n, 0.9, seed) / np.sqrt(1 / (1 - 0.81))
    epot = -100.0 - 3.0 * (1 - relax) + 0.05 * ar1(n, 0.95, seed + 1) / np.sqrt(1 / (1 - 0.9025))
    epot += drift_eV_per_ps * time_fs / 1000.0
    ekin = np.zeros(n)
    return np.column_stack([step, time_fs, epot, ekin, temp, epot + ekin])


def test_thermo_analysis_reports_production_temperature_and_no_drift(tmp_path: Path):
    thermo = synthetic_thermo()
    np.savetxt(tmp_path / "thermo.dat", thermo)
    rep = analyse_equilibration(tmp_path / "thermo.dat", 300.0)
    assert rep.t0_index == max(rep.t0_epot_index, rep.t0_temperature_index)
    assert 300 < rep.t0_index < 2000
    assert rep.t0_fs == pytest.approx(0.5 * rep.t0_index)
    assert rep.temperature_mean_K == pytest.approx(300.0, abs=4 * rep.temperature_sem_K)
    assert rep.temperature_sem_K == pytest.approx(
        thermo[rep.t0_index :, 4].std(ddof=1) * np.sqrt(rep.g_temperature / rep.n_samples)
    )
    assert rep.temperature_ok is True and rep.epot_drifting is False and rep.notes == []
    d = rep.as_dict()
    assert isinstance(d["t0_index"], int) and isinstance(d["temperature_mean_K"], float)


def test_thermo_analysis_flags_a_drift_and_a_hot_run():
    rep = analyse_equilibration(synthetic_thermo(t_mean=317.0, drift_eV_per_ps=-0.5), 300.0)
    assert rep.epot_drifting is True
    assert rep.epot_slope_eV_per_ps == pytest.approx(-0.5, abs=5 * rep.epot_slope_err_eV_per_ps)
    assert rep.temperature_ok is False
    assert any("outside 300 K ± 3 %" in n for n in rep.notes)
    assert any("E_pot still drifts" in n for n in rep.notes)


def test_pymbar_banners_are_silenced():
    code = (
        "import numpy as np; from multiscale.md import detect_equilibration; "
        "print(detect_equilibration(np.sin(np.arange(100.0))).t0 >= 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
    assert "JAX" not in out.stderr + out.stdout
    assert "Warning on use of the timeseries module" not in out.stderr + out.stdout


def test_bad_series_are_refused():
    with pytest.raises(ValueError, match="contains NaN"):
        detect_equilibration([1.0, 2.0, np.nan, 3.0, 4.0])
    with pytest.raises(ValueError, match="must be one-dimensional"):
        detect_equilibration(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="has 2 samples; need at least 4"):
        detect_equilibration([1.0, 2.0])
    with pytest.raises(ValueError, match=r"columns of thermo\.dat"):
        analyse_equilibration(np.zeros((20, 2)))
    with pytest.raises(ValueError, match="does not exist"):
        analyse_equilibration("no/such/thermo.dat")
    assert detect_equilibration(np.ones(10)).t0 == 0


# ------------------------------------------------------------------------- preparation
def copper() -> bulk:
    atoms = bulk("Cu", cubic=True).repeat((2, 2, 2))
    atoms.rattle(0.15, seed=1)  # forces of several eV/Å: an unrelaxed start
    atoms.calc = EMT()
    return atoms


def heat_settings() -> MDSettings:
    return MDSettings(timestep_fs=2.0, temperature_K=600.0, friction_per_fs=0.05, seed=3,
                      checkpoint_interval=20, traj_interval=5)  # fmt: skip


def test_heating_ramp_targets():
    s = MDSettings(timestep_fs=1.0, temperature_K=300.0, heat_from_K=50.0, heat_steps=100)
    assert [s.target_temperature_K(k) for k in (0, 50, 100, 500)] == [50.0, 175.0, 300.0, 300.0]
    with pytest.raises(ValueError, match="heat_steps needs a thermostat"):
        MDSettings(timestep_fs=1.0, ensemble="nve", heat_from_K=50.0, heat_steps=10)
    with pytest.raises(ValueError, match="heat_from_K must be a temperature > 0 K"):
        MDSettings(timestep_fs=1.0, heat_steps=10)


def test_prepare_relaxes_heats_and_is_not_redone_on_rerun(tmp_path: Path):
    atoms = copper()
    f0 = np.linalg.norm(atoms.get_forces(), axis=1).max()
    res = prepare_md(atoms, tmp_path, heat_settings(), relax_fmax=0.3, relax_steps=200,
                     heat_ps=0.2, heat_from_K=50.0, progress=False)  # fmt: skip
    assert f0 > 1.0 and res.relax_converged and res.relax_fmax_eV_per_A <= 0.3
    assert res.heat_steps == 100 and res.heat_resumed_from is None
    thermo = np.loadtxt(tmp_path / "heat" / "thermo.dat")
    # the ramp: cool at the start, near the target at the end (32 atoms: large fluctuations)
    assert thermo[:10, 4].mean() < 200 and thermo[-30:, 4].mean() > 350
    assert res.integrity["n_violations"] == 0
    first = atoms.positions.copy(), atoms.get_momenta().copy()
    # a rerun (e.g. the production was killed) reuses the relaxed structure and the heating
    again = copper()
    res2 = prepare_md(again, tmp_path, heat_settings(), relax_fmax=0.3, relax_steps=200,
                      heat_ps=0.2, heat_from_K=50.0, progress=False)  # fmt: skip
    assert res2.relax_reused and res2.heat_resumed_from == 100
    np.testing.assert_array_equal(again.positions, first[0])
    np.testing.assert_array_equal(again.get_momenta(), first[1])
    # production keeps the heated momenta
    prod = MDRunner(again, tmp_path / "prod", MDSettings(**{**heat_settings().__dict__,
                    "initial_temperature_K": None}), progress=False).run(5)  # fmt: skip
    assert prod.thermo[0, 4] == pytest.approx(thermo[-1, 4])


def test_relaxation_moves_molecules_whole(tmp_path: Path):
    from ase import Atoms
    from ase.build import molecule
    from ase.calculators.calculator import Calculator, all_changes

    class PushH(Calculator):
        # a constant 3 eV/Å on H 1 along +z, as an MLIP outside its data might pull a proton
        implemented_properties = ("energy", "forces")

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            f = np.zeros((len(self.atoms), 3))
            f[1, 2] = 3.0
            self.results = {"energy": -3.0 * self.atoms.positions[1, 2], "forces": f}

    def water():
        atoms = Atoms(cell=[8, 8, 8], pbc=True) + molecule("H2O")
        atoms.positions += 4.0
        atoms.calc = PushH()
        return atoms

    s = heat_settings()
    rigid = water()
    prepare_md(rigid, tmp_path / "rigid", s, relax_steps=20, heat_ps=0.0)
    loose = water()
    prepare_md(loose, tmp_path / "loose", s, relax_steps=20, heat_ps=0.0, relax_rigid=False)
    ref = water()
    for a, b in [(0, 1), (0, 2), (1, 2)]:  # bond lengths and the H-O-H angle kept
        assert rigid.get_distance(a, b) == pytest.approx(ref.get_distance(a, b), abs=1e-6)
    assert rigid.positions[0, 2] > ref.positions[0, 2] + 0.1  # the whole molecule moved
    assert loose.get_distance(0, 1) > 1.3  # without the constraint the H is pulled off


def test_prepare_refuses_bad_arguments(tmp_path: Path):
    with pytest.raises(ValueError, match="relax_steps must be an integer >= 0"):
        prepare_md(copper(), tmp_path, heat_settings(), relax_steps=-1)
    with pytest.raises(ValueError, match="heat_ps must be a duration >= 0 ps"):
        prepare_md(copper(), tmp_path, heat_settings(), heat_ps=-1.0)
    with pytest.raises(ValueError, match="relax_fmax must be a force > 0"):
        prepare_md(copper(), tmp_path, heat_settings(), relax_fmax=0.0)
