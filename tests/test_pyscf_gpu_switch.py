"""PySCFCalculator's device switch: gpu4pyscf when importable and a CUDA device is visible,
the CPU otherwise.

gpu4pyscf is not installed in the test environment, so the CPU fallback is exercised for real;
the GPU path is exercised with stand-in ``gpu4pyscf``/``cupy`` modules put in ``sys.modules``
and a mean-field ``to_gpu()`` whose object delegates to the CPU one (so its numbers are known)
while handing arrays back as CuPy does (``.get()``, no implicit conversion to NumPy).
Also the ``ecp`` option that the DFT route for metal clusters uses.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
import types

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import CalculatorSetupError

import coupling.pyscf_calculator as pc
from coupling import PySCFCalculator

TIGHT = {"conv_tol": 1e-11, "conv_tol_grad": 1e-7}
FAST = {"xc": "pbe", "basis": "sto-3g", **TIGHT}


@pytest.fixture
def h2() -> Atoms:
    return Atoms("HH", positions=[[0, 0, 0], [0, 0, 0.76]])


@pytest.fixture
def no_gpu4pyscf(monkeypatch):
    """Make sure ``import gpu4pyscf`` fails (it does here: the package is not installed)."""
    if importlib.util.find_spec("gpu4pyscf") is not None:  # a GPU machine: hide it
        monkeypatch.setitem(sys.modules, "gpu4pyscf", None)
    monkeypatch.setattr(pc, "_FALLBACKS_LOGGED", set())


def _fake_gpu_stack(monkeypatch, n_devices: int | Exception) -> list[int]:
    """Put stand-in gpu4pyscf and cupy modules in sys.modules; return the device-query log."""
    queries: list[int] = []

    def get_device_count() -> int:
        queries.append(1)
        if isinstance(n_devices, Exception):
            raise n_devices
        return n_devices

    cupy = types.ModuleType("cupy")
    runtime = types.SimpleNamespace(getDeviceCount=get_device_count)
    cupy.cuda = types.SimpleNamespace(runtime=runtime)
    monkeypatch.setitem(sys.modules, "gpu4pyscf", types.ModuleType("gpu4pyscf"))
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setattr(pc, "_FALLBACKS_LOGGED", set())
    return queries


class FakeCupyArray:
    """Host copy only through ``.get()``, like a CuPy array."""

    def __init__(self, a) -> None:
        self._a = np.array(a, dtype=np.float64)

    def get(self) -> np.ndarray:
        return self._a.copy()

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed (fake CuPy)")


class _Delegate:
    """Forwards attribute reads and writes to the wrapped CPU object."""

    def __init__(self, cpu) -> None:
        object.__setattr__(self, "_cpu", cpu)

    def __getattr__(self, name):
        return getattr(self._cpu, name)

    def __setattr__(self, name, value) -> None:
        setattr(self._cpu, name, value)


class FakeGPUGradients(_Delegate):
    def kernel(self, *args, **kwargs):
        return FakeCupyArray(self._cpu.kernel(*args, **kwargs))


class FakeGPUMeanField(_Delegate):
    """What ``mf.to_gpu()`` returns here: the CPU SCF underneath, CuPy-like arrays out."""

    def kernel(self, dm0=None, **kwargs):
        if dm0 is not None and not isinstance(dm0, np.ndarray):
            raise TypeError(f"dm0 should be a host array here, got {type(dm0).__name__}")
        return self._cpu.kernel(dm0=dm0, **kwargs)

    def make_rdm1(self, *args, **kwargs):
        return FakeCupyArray(self._cpu.make_rdm1(*args, **kwargs))

    def nuc_grad_method(self):
        return FakeGPUGradients(self._cpu.nuc_grad_method())


def _calculator_with_to_gpu(to_gpu, **kwargs) -> PySCFCalculator:
    """A PySCFCalculator whose mean-field objects carry the given ``to_gpu`` method."""

    class Calc(PySCFCalculator):
        def build_method(self, mol):
            mf = super().build_method(mol)
            mf.to_gpu = lambda: to_gpu(mf)
            return mf

    return Calc(**kwargs)


def test_auto_without_gpu4pyscf_runs_on_cpu_like_device_cpu(h2, no_gpu4pyscf, caplog):
    with caplog.at_level(logging.INFO, logger="coupling.pyscf_calculator"):
        auto = PySCFCalculator(**FAST)
    assert auto.device_used == "cpu"
    assert "gpu4pyscf is not importable" in caplog.text
    e_auto = auto.get_potential_energy(h2.copy())
    f_auto = auto.get_forces(h2.copy())
    cpu = PySCFCalculator(device="cpu", **FAST)
    e_cpu = cpu.get_potential_energy(h2.copy())
    assert abs(e_auto - e_cpu) < 1e-10
    np.testing.assert_allclose(f_auto, cpu.get_forces(h2.copy()), atol=1e-10)
    assert auto.results["device"] == "cpu" and cpu.results["device"] == "cpu"
    # the reason is logged once per process, not per calculator
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="coupling.pyscf_calculator"):
        PySCFCalculator(**FAST)
    assert "gpu4pyscf" not in caplog.text


def test_device_gpu_without_gpu4pyscf_is_a_setup_error(no_gpu4pyscf):
    with pytest.raises(CalculatorSetupError, match=r"gpu4pyscf.*pip install gpu4pyscf-cuda12x"):
        PySCFCalculator(device="gpu", **FAST)


def test_bad_device_value_is_a_setup_error():
    with pytest.raises(CalculatorSetupError, match=r"device must be one of \('auto', 'cpu'"):
        PySCFCalculator(device="cuda", **FAST)
    calc = PySCFCalculator(device="cpu", **FAST)
    with pytest.raises(CalculatorSetupError, match="device must be one of"):
        calc.set(device=1)


@pytest.mark.parametrize("n_devices", [0, RuntimeError("cudaErrorNoDevice")])
def test_auto_falls_back_when_gpu4pyscf_sees_no_device(h2, monkeypatch, caplog, n_devices):
    queries = _fake_gpu_stack(monkeypatch, n_devices)
    with caplog.at_level(logging.INFO, logger="coupling.pyscf_calculator"):
        calc = PySCFCalculator(**FAST)
    assert queries, "the CUDA device count was not queried"
    assert calc.device_used == "cpu"
    assert "runs on the CPU" in caplog.text
    calc.get_potential_energy(h2)
    assert calc.results["device"] == "cpu"
    with pytest.raises(CalculatorSetupError, match="CUDA device"):
        PySCFCalculator(device="gpu", **FAST)


def test_device_cpu_never_queries_the_gpu(monkeypatch):
    queries = _fake_gpu_stack(monkeypatch, 1)
    calc = PySCFCalculator(device="cpu", **FAST)
    assert calc.device_used == "cpu"
    assert queries == []


def test_gpu_path_converts_with_to_gpu_and_returns_host_float64(h2, monkeypatch):
    cpu = PySCFCalculator(device="cpu", **FAST)
    e_cpu = cpu.get_potential_energy(h2.copy())
    f_cpu = cpu.get_forces(h2.copy())

    _fake_gpu_stack(monkeypatch, 1)
    converted: list[object] = []

    def to_gpu(mf):
        converted.append(mf)
        return FakeGPUMeanField(mf)

    for device in ("auto", "gpu"):
        calc = _calculator_with_to_gpu(to_gpu, device=device, **FAST)
        assert calc.device_used == "gpu"
        atoms = h2.copy()
        atoms.calc = calc
        forces = atoms.get_forces()
        assert isinstance(calc.mf, FakeGPUMeanField)
        assert calc.results["device"] == "gpu"
        assert calc.results["scf_cycles"] > 0  # the cycle counter reached the GPU object
        assert abs(atoms.get_potential_energy() - e_cpu) < 1e-10
        assert forces.dtype == np.float64
        np.testing.assert_allclose(forces, f_cpu, atol=1e-10)
        # the next geometry starts from the (host-copied) density history
        atoms.positions[1, 2] += 0.01
        atoms.get_forces()
        assert calc.results["guess"] != "atomic" and calc.results["device"] == "gpu"
    assert len(converted) == 4


def test_unconvertible_method_falls_back_on_auto_and_raises_on_gpu(h2, monkeypatch, caplog):
    _fake_gpu_stack(monkeypatch, 1)

    def to_gpu(mf):
        raise NotImplementedError("no GPU version of this method")

    calc = _calculator_with_to_gpu(to_gpu, **FAST)
    assert calc.device_used == "gpu"
    with caplog.at_level(logging.WARNING, logger="coupling.pyscf_calculator"):
        e = calc.get_potential_energy(h2.copy())
    assert calc.device_used == "cpu" and calc.results["device"] == "cpu"
    assert "cannot convert" in caplog.text
    assert abs(e - PySCFCalculator(device="cpu", **FAST).get_potential_energy(h2.copy())) < 1e-10

    strict = _calculator_with_to_gpu(to_gpu, device="gpu", **FAST)
    with pytest.raises(CalculatorSetupError, match="gpu4pyscf cannot convert"):
        strict.get_potential_energy(h2.copy())


def test_ecp_option_replaces_the_core_and_forces_stay_derivatives():
    """The ``ecp`` option (for the metal labels of the DFT route) reaches PySCF's Mole."""
    cuh = Atoms("CuH", positions=[[0, 0, 0], [0, 0, 1.50]])
    basis = {"Cu": "lanl2dz", "H": "sto-3g"}
    calc = PySCFCalculator(xc="pbe", basis=basis, ecp={"Cu": "lanl2dz"}, device="cpu", **TIGHT)
    cuh.calc = calc
    forces = cuh.get_forces()
    assert calc.mf.mol.nelectron == 20  # 19 Cu valence electrons (10 in the core) + 1
    assert abs(forces[1, 2]) > 0.05  # eV/Å: stretched from the PBE bond, a real force
    step = 1e-3  # Å
    energies = []
    for sign in (1, -1):
        moved = cuh.copy()
        moved.positions[1, 2] += sign * step
        moved.calc = PySCFCalculator(
            xc="pbe", basis=basis, ecp={"Cu": "lanl2dz"}, device="cpu", guess="none", **TIGHT
        )
        energies.append(moved.get_potential_energy())
    assert abs(forces[1, 2] + (energies[0] - energies[1]) / (2 * step)) < 1e-3
    with pytest.raises(CalculatorSetupError, match="ecp='lanl9'"):
        PySCFCalculator(basis="lanl2dz", ecp="lanl9")
    with pytest.raises(CalculatorSetupError, match="ecp must be None"):
        PySCFCalculator(basis="lanl2dz", ecp=["lanl2dz"])
