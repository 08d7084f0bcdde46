"""An ASE calculator around PySCF Kohn–Sham DFT (or Hartree–Fock) for finite clusters.

Units: ASE's (Å, eV, eV/Å) at the interface; PySCF works in atomic units inside. The only
conversions are in :func:`_to_bohr` and :meth:`PySCFCalculator._store_results`, both with
``ase.units`` constants, so energies and forces are consistent to machine precision.

The SCF and gradients run on a GPU through gpu4pyscf (``device="auto"`` or ``"gpu"``) when it
is installed and CUDA sees a device; otherwise on the CPU (see :class:`PySCFCalculator`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import (
    CalculationFailed,
    Calculator,
    CalculatorSetupError,
    SCFError,
    all_changes,
)
from ase.units import Bohr, Hartree

from .extrapolation import DensityHistory

__all__ = ["PySCFCalculator"]

log = logging.getLogger(__name__)

_SCF_DIAGNOSTICS = ("converged", "scf_cycles", "scf_attempts", "scf_solver", "guess", "device")

#: accepted values of the ``device`` option
DEVICES = ("auto", "cpu", "gpu")
_GPU_INSTALL = (
    "install gpu4pyscf for the machine's CUDA version: `pip install gpu4pyscf-cuda12x` "
    "(CUDA 12) or `pip install gpu4pyscf-cuda13x` (CUDA 13)"
)
# reasons for a CPU fallback already logged in this process (each is logged once)
_FALLBACKS_LOGGED: set[str] = set()


def _gpu_unavailable_reason() -> str | None:
    """None when gpu4pyscf imports and CUDA sees a device; otherwise why not (a phrase)."""
    try:
        import gpu4pyscf  # noqa: F401
    except Exception as err:  # ImportError, or a broken CUDA stack failing at import
        return f"gpu4pyscf is not importable ({type(err).__name__}: {err})"
    try:
        import cupy

        n_devices = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as err:  # no driver, no runtime: CuPy raises its own error types
        return (
            "gpu4pyscf imports but CuPy cannot count the CUDA devices "
            f"({type(err).__name__}: {err})"
        )
    if n_devices < 1:
        return "gpu4pyscf imports but no CUDA device is visible"
    return None


def _log_fallback(reason: str) -> None:
    if reason not in _FALLBACKS_LOGGED:
        _FALLBACKS_LOGGED.add(reason)
        log.info("PySCFCalculator(device='auto') runs on the CPU: %s", reason)


def _as_numpy(x: Any) -> np.ndarray:
    """``x`` as a NumPy array; a CuPy array (GPU path) is copied to the host as float64.

    A NumPy array is returned unchanged (CPU path: PySCF may tag density matrices with their
    orbitals, and the CPU results stay exactly what they were).
    """
    if isinstance(x, np.ndarray):
        return x
    if callable(getattr(x, "get", None)):
        x = x.get()
    return np.asarray(x, dtype=float)


def _to_bohr(positions_angstrom: np.ndarray) -> np.ndarray:
    return np.asarray(positions_angstrom, dtype=float) / Bohr


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


# a few elements that nearly every basis covers: a basis name is known to PySCF if it loads
# for one of them (a basis without hydrogen, e.g. an ECP basis such as lanl2tz, is still known)
_PROBE_ELEMENTS = ("H", "O", "C", "Cu", "Pt", "Au")


def _loads_for_some(loader: Any, name: str, elements: tuple[str, ...]) -> bool:
    """True if ``loader(name, element)`` returns data for one of ``elements``."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PySCF suggests installing basis-set-exchange
        for element in elements:
            try:
                if loader(name, element):
                    return True
            except Exception:  # PySCF raises several types for a missing basis or ECP
                continue
    return False


def _basis_name_known(name: str) -> bool:
    """True if PySCF can load the (orbital or auxiliary) basis set ``name`` for some element."""
    from pyscf.gto.basis import load

    return _loads_for_some(load, name, _PROBE_ELEMENTS)


_ECP_PROBE_ELEMENTS = ("Cu", "Ag", "Au", "Pt", "Pd", "I")


def _ecp_name_known(name: str) -> bool:
    """True if PySCF can load the effective core potential ``name`` for some heavy element."""
    from pyscf.gto.basis import load_ecp

    return _loads_for_some(load_ecp, name, _ECP_PROBE_ELEMENTS)


class PySCFCalculator(Calculator):
    """Kohn–Sham DFT energies and forces of a non-periodic cluster with PySCF.

    Restricted (RKS) for ``spin == 0`` and unrestricted (UKS) otherwise. Every SCF is
    converged to ``conv_tol``; an SCF that does not converge is retried with stabilisers
    (level shift and damping, then the second-order Newton solver) and, if it still fails,
    :class:`ase.calculators.calculator.SCFError` is raised. Forces from an unconverged SCF
    are never returned.

    Between calls on slightly moved geometries (MD, optimisation), the converged densities
    of the last steps are extrapolated (Kolafa's ASPC predictor, see
    :mod:`coupling.extrapolation`) to start the next SCF, which typically halves the number
    of SCF cycles.

    Parameters
    ----------
    xc : str
        Exchange–correlation functional in libxc/PySCF notation (``"pbe"``, ``"b3lyp"``,
        ``"pbe0"``, ...); ``"hf"`` selects Hartree–Fock.
    basis : str or dict
        Gaussian basis set name known to PySCF (``"def2-svp"``, ``"6-31g*"``, ...), or a
        per-element dict.
    charge : int
        Total charge of the cluster (units of e).
    spin : int
        ``2S = N_alpha - N_beta`` (PySCF's convention): 0 for a closed shell, 1 for a doublet.
    device : {"auto", "cpu", "gpu"}
        Where the SCF and the gradients run (unit-free). ``"auto"`` (default) uses gpu4pyscf
        when ``import gpu4pyscf`` succeeds and CuPy sees at least one CUDA device, and the
        CPU otherwise (the reason is logged once at INFO level); a mean-field object that
        gpu4pyscf cannot convert also falls back to the CPU (logged as a warning). ``"gpu"``
        requires gpu4pyscf and a device and raises otherwise; ``"cpu"`` never imports
        gpu4pyscf. The GPU path converts PySCF's mean-field object with its ``to_gpu()``
        method; energies and forces come back as NumPy float64 in the same units. The device
        actually used is :attr:`device_used` and ``results["device"]``.
    **options
        Further settings (all optional):

        ``ecp`` (str, dict or None, default None)
            Effective core potential, a name known to PySCF (``"lanl2dz"``, ``"crenbl"``,
            ...) for every element it covers, or a dict ``{element symbol: name}``; None is
            all-electron (PySCF does not add the ECP that goes with an ECP basis such as
            ``"lanl2dz"`` by itself: name it here too, e.g. ``basis={"Cu": "lanl2dz", "O":
            "def2-svp", "H": "def2-svp"}, ecp={"Cu": "lanl2dz"}``).
        ``density_fit`` (bool or str, default False)
            Density fitting (RI-J/K); a string names the auxiliary basis.
        ``dispersion`` (str or None, default None)
            Empirical dispersion correction, e.g. ``"d3bj"``, ``"d3zero"``, ``"d4"``
            (needs the ``pyscf-dispersion`` package).
        ``conv_tol`` (float, default 1e-9)
            SCF energy convergence threshold (Hartree).
        ``conv_tol_grad`` (float or None, default None)
            SCF orbital-gradient threshold; PySCF's default (sqrt(conv_tol)) when None.
        ``max_cycle`` (int, default 100)
            SCF iterations allowed per attempt.
        ``grids_level`` (int, default 3)
            PySCF DFT integration grid level (0–9).
        ``grid_response`` (bool, default True)
            Include the derivative of the integration grid in the forces, so that forces
            are exact derivatives of the energy (needed for energy-conserving MD).
        ``guess`` (str, default "aspc")
            Initial density between calls: ``"aspc"`` (extrapolated), ``"reuse"`` (last
            density), or ``"none"`` (PySCF's atomic guess every call).
        ``aspc_order`` (int, default 2)
            Order K of the ASPC predictor (uses K+2 previous densities).
        ``max_memory`` (float, default 4000)
            Memory PySCF may use (MB).
        ``verbose`` (int, default 0)
            PySCF verbosity.
        ``smearing`` (float or None, default None)
            Fermi–Dirac smearing width of the orbital occupations (eV), for clusters of
            metal atoms whose SCF with integer occupations oscillates between near-degenerate
            orbitals (hundreds of cycles); e.g. 0.1. Then ``free_energy`` is the Mermin free
            energy ``E − σS`` (the forces are its gradient) and ``energy`` the σ → 0 estimate
            ``E − σS/2``, ASE's convention for smeared calculations. The second-order
            solver is not tried (PySCF's does not support fractional occupations).

    Raises
    ------
    ase.calculators.calculator.CalculatorSetupError
        At construction (or :meth:`set`) for a parameter of the wrong type or out of range
        (the message names it), an unknown functional, basis, ECP, auxiliary basis,
        dispersion correction or ``device``, or ``device="gpu"`` without gpu4pyscf or a CUDA device;
        before any SCF for an empty, periodic or overlapping structure or a charge and spin
        that do not fit the electron count, or (``device="gpu"``) a mean-field object that
        gpu4pyscf cannot convert.
    ase.calculators.calculator.CalculationFailed
        Before any SCF, for non-finite positions (the message names the first such atom).
    ase.calculators.calculator.SCFError
        The SCF did not converge, stabilisers included.

    Notes
    -----
    ``results`` holds ``energy`` (eV), ``free_energy`` (eV, equal to ``energy``),
    ``forces`` (eV/Å), and the diagnostics ``converged`` (bool), ``scf_cycles`` (total over
    attempts), ``scf_attempts``, ``guess`` (which initial guess was used), ``device``
    (``"cpu"`` or ``"gpu"``, where this SCF ran) and ``timings`` (seconds for ``scf``,
    ``gradient`` and ``total``).

    Examples
    --------
    >>> from ase.build import molecule
    >>> atoms = molecule("H2O")
    >>> atoms.calc = PySCFCalculator(xc="pbe", basis="def2-svp")
    >>> e = atoms.get_potential_energy()  # eV
    """

    implemented_properties = ["energy", "free_energy", "forces"]
    default_parameters: dict[str, Any] = {
        "xc": "pbe",
        "basis": "def2-svp",
        "charge": 0,
        "spin": 0,
        "ecp": None,
        "density_fit": False,
        "dispersion": None,
        "conv_tol": 1e-9,
        "conv_tol_grad": None,
        "max_cycle": 100,
        "grids_level": 3,
        "grid_response": True,
        "guess": "aspc",
        "aspc_order": 2,
        "max_memory": 4000,
        "verbose": 0,
        "smearing": None,
        "device": "auto",
    }

    def __init__(
        self,
        xc: str = "pbe",
        basis: str | dict = "def2-svp",
        charge: int = 0,
        spin: int = 0,
        device: str = "auto",
        **options: Any,
    ) -> None:
        atoms = options.pop("atoms", None)
        label = options.pop("label", None)
        self.mf = None  #: the last converged PySCF mean-field object, for inspection
        #: where the SCF runs: "cpu" or "gpu" (``device`` resolved; see the class docstring)
        self.device_used = "cpu"
        super().__init__(label=label, atoms=atoms)
        self.set(xc=xc, basis=basis, charge=charge, spin=spin, device=device, **options)
        self._validate_parameters()
        self._resolve_device()
        self.history = DensityHistory(
            mode=self.parameters["guess"], order=self.parameters["aspc_order"]
        )

    # ------------------------------------------------------------------ validation
    def set(self, **kwargs: Any) -> dict:
        """Change parameters; the density history is cleared when the problem changes."""
        unknown = sorted(set(kwargs) - set(self.default_parameters))
        if unknown:
            raise CalculatorSetupError(
                f"unknown PySCFCalculator option(s) {unknown}; "
                f"known options: {sorted(self.default_parameters)}"
            )
        changed = super().set(**kwargs)
        if changed and set(changed) != {"verbose"}:
            self.reset()
            self.mf = None
            self._validate_parameters()
            if "device" in changed:
                self._resolve_device()
            self.history = DensityHistory(
                mode=self.parameters["guess"], order=self.parameters["aspc_order"]
            )
        return changed

    def _validate_parameters(self) -> None:
        p = self.parameters
        for name in ("charge", "spin"):
            if not _is_int(p[name]):
                raise CalculatorSetupError(f"{name} must be an integer, got {p[name]!r}")
        if p["spin"] < 0:
            raise CalculatorSetupError(f"spin (2S) must be >= 0, got {p['spin']}")
        if not isinstance(p["xc"], str):
            raise CalculatorSetupError(f"xc must be a string such as 'pbe', got {p['xc']!r}")
        if p["xc"].lower() != "hf":
            from pyscf.dft import libxc

            try:
                libxc.parse_xc(p["xc"])
            except (KeyError, ValueError) as err:
                raise CalculatorSetupError(
                    f"unknown exchange-correlation functional {p['xc']!r} "
                    "(use a libxc name such as 'pbe', 'b3lyp', 'pbe0', or 'hf')"
                ) from err
        if isinstance(p["basis"], str):
            if not _basis_name_known(p["basis"]):
                raise CalculatorSetupError(
                    f"unknown basis set {p['basis']!r}: PySCF cannot load it "
                    "(use a name such as 'def2-svp', '6-31g*', 'cc-pvdz')"
                )
        elif not isinstance(p["basis"], dict) or not all(isinstance(k, str) for k in p["basis"]):
            raise CalculatorSetupError(
                "basis must be a name or a dict {element symbol: basis}, got "
                f"{type(p['basis']).__name__}"
            )
        ecp = p["ecp"]
        if isinstance(ecp, str):
            if not _ecp_name_known(ecp):
                raise CalculatorSetupError(
                    f"ecp={ecp!r}: PySCF knows no effective core potential of that name (use a "
                    "name such as 'lanl2dz' or 'crenbl', a dict {element: name}, or None for "
                    "all-electron)"
                )
        elif ecp is not None and not (
            isinstance(ecp, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in ecp.items())
        ):
            raise CalculatorSetupError(
                f"ecp must be None, an ECP name or a dict {{element symbol: ECP name}}, got {ecp!r}"
            )
        df = p["density_fit"]
        if not isinstance(df, bool | str):
            raise CalculatorSetupError(
                f"density_fit must be True/False or an auxiliary basis name, got {df!r}"
            )
        if isinstance(df, str) and not _basis_name_known(df):
            raise CalculatorSetupError(
                f"density_fit={df!r}: unknown auxiliary basis set (use a name such as "
                "'def2-universal-jkfit', 'weigend', or density_fit=True for PySCF's default)"
            )
        if p["guess"] not in ("aspc", "reuse", "none"):
            raise CalculatorSetupError(
                f"guess must be 'aspc', 'reuse' or 'none', got {p['guess']!r}"
            )
        for name, low, high, what in (
            ("max_cycle", 1, None, "SCF iterations per attempt"),
            ("grids_level", 0, 9, "PySCF DFT grid level"),
            ("aspc_order", 0, None, "ASPC predictor order"),
            ("verbose", 0, 9, "PySCF verbosity"),
        ):
            v = p[name]
            if not _is_int(v) or v < low or (high is not None and v > high):
                allowed = f"{low}..{high}" if high is not None else f">= {low}"
                raise CalculatorSetupError(
                    f"{name} must be an integer {allowed} ({what}), got {v!r}"
                )
        for name, unit in (("conv_tol", "Hartree"), ("conv_tol_grad", None), ("max_memory", "MB")):
            v = p[name]
            if name == "conv_tol_grad" and v is None:
                continue
            if not (_is_real(v) and np.isfinite(v) and v > 0):
                unit = f" ({unit})" if unit else ""
                raise CalculatorSetupError(f"{name} must be a finite number > 0{unit}, got {v!r}")
        sm = p["smearing"]
        if sm is not None and not (_is_real(sm) and np.isfinite(sm) and sm > 0):
            raise CalculatorSetupError(
                f"smearing must be None or a finite width > 0 (eV), got {sm!r}"
            )
        if not isinstance(p["grid_response"], bool | np.bool_):
            raise CalculatorSetupError(
                f"grid_response must be True or False, got {p['grid_response']!r}"
            )
        if p["dispersion"] is not None:
            try:
                import pyscf.dispersion  # noqa: F401
                from pyscf.scf.dispersion import DISP_VERSIONS
            except ImportError as err:
                raise CalculatorSetupError(
                    f"dispersion={p['dispersion']!r} needs the 'pyscf-dispersion' package "
                    "(pip install pyscf-dispersion)"
                ) from err
            disp = p["dispersion"]
            if not isinstance(disp, str) or disp.split(":")[0].lower() not in DISP_VERSIONS:
                raise CalculatorSetupError(
                    f"unknown dispersion correction {disp!r}: use one of {DISP_VERSIONS} or None"
                )
        if p["device"] not in DEVICES:
            raise CalculatorSetupError(
                f"device must be one of {DEVICES} (where the SCF runs), got {p['device']!r}"
            )

    def _resolve_device(self) -> None:
        """Set :attr:`device_used` from the ``device`` option (raise for an unmet "gpu")."""
        device = self.parameters["device"]
        if device == "cpu":
            self.device_used = "cpu"
            return
        reason = _gpu_unavailable_reason()
        if reason is None:
            self.device_used = "gpu"
        elif device == "gpu":
            raise CalculatorSetupError(
                f"device='gpu' needs gpu4pyscf and a CUDA device, but {reason}; "
                f"{_GPU_INSTALL}, or use device='auto' (GPU when available) or device='cpu'"
            )
        else:
            self.device_used = "cpu"
            _log_fallback(reason)

    def _to_device(self, mf):
        """Return ``mf`` on :attr:`device_used` (``mf.to_gpu()`` for the GPU)."""
        if self.device_used != "gpu":
            return mf
        try:
            return mf.to_gpu()
        except Exception as err:  # gpu4pyscf lacks this method/feature (several error types)
            what = f"gpu4pyscf cannot convert {type(mf).__name__} ({type(err).__name__}: {err})"
            if self.parameters["device"] == "gpu":
                raise CalculatorSetupError(
                    f"device='gpu': {what}; use device='cpu' for this setup"
                ) from err
            log.warning("PySCFCalculator(device='auto'): %s; using the CPU from now on", what)
            self.device_used = "cpu"
            return mf

    def _check_atoms(self, atoms: Atoms) -> None:
        if len(atoms) == 0:
            raise CalculatorSetupError("PySCFCalculator got an empty Atoms object")
        finite = np.isfinite(atoms.positions).all(axis=1)
        if not finite.all():
            i = int(np.flatnonzero(~finite)[0])
            raise CalculationFailed(
                f"atom {i} ({atoms[i].symbol}) has a non-finite position "
                f"{atoms.positions[i].tolist()} Å ({int((~finite).sum())} of {len(atoms)} atoms "
                "are non-finite); no SCF was run: the structure is corrupt or the dynamics "
                "that produced it blew up"
            )
        if atoms.pbc.any():
            raise CalculatorSetupError(
                "PySCFCalculator computes finite (non-periodic) clusters, but atoms.pbc = "
                f"{atoms.pbc.tolist()}; set atoms.pbc = False, or carve a cluster from the "
                "periodic system with coupling.Regions"
            )
        n_electrons = int(atoms.get_atomic_numbers().sum()) - int(self.parameters["charge"])
        spin = int(self.parameters["spin"])
        if n_electrons <= 0:
            raise CalculatorSetupError(
                f"charge {self.parameters['charge']} leaves {n_electrons} electrons"
            )
        if (n_electrons - spin) % 2 != 0:
            raise CalculatorSetupError(
                f"{n_electrons} electrons cannot have spin (2S) = {spin}: an odd electron "
                "count needs an odd spin (e.g. spin=1 for a doublet) and an even count an "
                "even spin; change `spin` or `charge`"
            )
        if spin > n_electrons:
            raise CalculatorSetupError(f"spin {spin} exceeds the {n_electrons} electrons")
        d = atoms.get_all_distances()
        np.fill_diagonal(d, np.inf)
        if len(atoms) > 1 and d.min() < 0.3:
            i, j = np.unravel_index(np.argmin(d), d.shape)
            raise CalculatorSetupError(
                f"atoms {i} and {j} are {d.min():.3f} Å apart: overlapping atoms"
            )

    # ------------------------------------------------------------------ PySCF objects
    def build_mole(self, atoms: Atoms):
        """Return the :class:`pyscf.gto.Mole` of ``atoms`` (positions converted to Bohr)."""
        from pyscf import gto

        p = self.parameters
        mol = gto.Mole()
        mol.atom = list(
            zip(atoms.get_chemical_symbols(), _to_bohr(atoms.positions).tolist(), strict=True)
        )
        mol.unit = "Bohr"
        mol.basis = p["basis"]
        if p["ecp"] is not None:
            mol.ecp = p["ecp"]
        mol.charge = int(p["charge"])
        mol.spin = int(p["spin"])
        mol.verbose = int(p["verbose"])
        mol.max_memory = int(p["max_memory"])
        try:
            mol.build(dump_input=False, parse_arg=False)
        except Exception as err:
            raise CalculatorSetupError(
                f"PySCF could not build the molecule with basis {p['basis']!r}: {err}"
            ) from err
        return mol

    def build_method(self, mol):
        """Return the (unconverged) PySCF mean-field object for ``mol``."""
        from pyscf import dft, scf

        p = self.parameters
        hf = p["xc"].lower() == "hf"
        if p["spin"] == 0:
            mf = scf.RHF(mol) if hf else dft.RKS(mol)
        else:
            mf = scf.UHF(mol) if hf else dft.UKS(mol)
        if not hf:
            mf.xc = p["xc"]
            mf.grids.level = int(p["grids_level"])
        if p["density_fit"]:
            aux = p["density_fit"] if isinstance(p["density_fit"], str) else None
            mf = mf.density_fit(auxbasis=aux)
        if p["dispersion"] is not None:
            mf.disp = p["dispersion"]
        if p["smearing"] is not None:
            from pyscf.scf import addons

            mf = addons.smearing_(mf, sigma=float(p["smearing"]) / Hartree, method="fermi")
        mf.conv_tol = float(p["conv_tol"])
        if p["conv_tol_grad"] is not None:
            mf.conv_tol_grad = float(p["conv_tol_grad"])
        mf.max_cycle = int(p["max_cycle"])
        mf.chkfile = None
        mf.verbose = int(p["verbose"])
        return mf

    def _problem_key(self, atoms: Atoms) -> tuple:
        p = self.parameters
        return (
            tuple(atoms.numbers.tolist()),
            p["charge"],
            p["spin"],
            repr(p["basis"]),
            p["xc"],
            repr(p["density_fit"]),
            repr(p["ecp"]),
        )

    # ------------------------------------------------------------------ SCF
    def _run_scf(self, mol, dm0):
        """Converge the SCF, retrying with stabilisers; return (mf, cycles, attempts)."""
        cycles = 0

        def count(envs):
            nonlocal cycles
            cycles += 1

        attempts = [
            ("diis", {}),
            ("level_shift+damping", {"level_shift": 0.3, "damp": 0.5, "diis_start_cycle": 4}),
            ("newton", {}),
        ]
        if self.parameters["smearing"] is not None:  # no fractional occupations in newton()
            attempts = attempts[:2]
        mf = None
        dm = dm0
        for n, (name, settings) in enumerate(attempts, start=1):
            mf = self.build_method(mol)
            for key, value in settings.items():
                setattr(mf, key, value)
            mf = self._to_device(mf)
            if name == "newton":
                mf = mf.newton()
            mf.callback = count
            try:
                mf.kernel(dm0=dm)
            except (np.linalg.LinAlgError, FloatingPointError):
                mf.converged = False
            if mf.converged:
                return mf, cycles, n, name
            # continue from the best density so far when it is usable
            dm_try = _as_numpy(mf.make_rdm1()) if mf.mo_coeff is not None else None
            if dm_try is not None and np.all(np.isfinite(dm_try)):
                dm = dm_try
        raise SCFError(
            f"PySCF SCF did not converge in {len(attempts)} attempts ({cycles} cycles in all, "
            f"max_cycle={self.parameters['max_cycle']} per attempt; tried "
            f"{', '.join(name for name, _ in attempts)}). Check the geometry, charge and spin, "
            "or raise max_cycle (for a metal cluster, try smearing=0.1 eV)."
        )

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: list[str] | None = None,
        system_changes: list[str] = all_changes,
    ) -> None:
        """Run the SCF and (if asked) the nuclear gradient; fill ``self.results``."""
        properties = properties or ["energy"]
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        t0 = time.perf_counter()
        if not system_changes and self.mf is not None and "energy" in self.results:
            # same geometry, only a property is missing (e.g. forces after the energy):
            # reuse the converged SCF instead of solving it again
            mf = self.mf
            previous = self.results
        else:
            self._check_atoms(atoms)
            mol = self.build_mole(atoms)
            key = self._problem_key(atoms)
            dm0 = self.history.guess(key, atoms.positions)
            guess_used = "atomic" if dm0 is None else self.history.mode
            mf, cycles, attempts, solver = self._run_scf(mol, dm0)
            self.history.push(key, atoms.positions, _as_numpy(mf.make_rdm1()))
            self.mf = mf
            previous = {
                "converged": True,
                "scf_cycles": cycles,
                "scf_attempts": attempts,
                "scf_solver": solver,
                "guess": guess_used,
                "device": self.device_used,
                "timings": {"scf": time.perf_counter() - t0},
            }
        t_scf = previous["timings"]["scf"]

        forces = None
        t_grad = 0.0
        if "forces" in properties:
            t1 = time.perf_counter()
            grad = mf.nuc_grad_method()
            if hasattr(grad, "grid_response"):
                grad.grid_response = bool(self.parameters["grid_response"])
            grad.verbose = 0
            forces = -_as_numpy(grad.kernel()) * (Hartree / Bohr)
            t_grad = time.perf_counter() - t1

        energy = free = float(_as_numpy(mf.e_tot)) * Hartree
        if self.parameters["smearing"] is not None and mf.e_free is not None:
            free = float(_as_numpy(mf.e_free)) * Hartree  # E - σS: what the forces derive
            energy = float(_as_numpy(mf.e_zero)) * Hartree  # E - σS/2: the σ -> 0 estimate
        self.results = {
            **{k: previous[k] for k in _SCF_DIAGNOSTICS},
            "energy": energy,
            "free_energy": free,
            "timings": {"scf": t_scf, "gradient": t_grad, "total": t_scf + t_grad},
        }
        if forces is not None:
            self.results["forces"] = np.asarray(forces, dtype=float)
