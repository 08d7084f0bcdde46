"""The MACE models shipped in ``multiscale/mlip/models/`` (no download at run time).

A ``.model`` file is a pickle (``torch.save``): loading it can run arbitrary code. The shipped
files are therefore checked against the SHA-256 hashes committed in ``models/SHA256SUMS``
before they are loaded; :func:`write_shipped_hashes` (called by
``python -m multiscale.mlip.build_default hashes``) rewrites that file after a rebuild.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from ase.calculators.calculator import Calculator, CalculatorSetupError

MODELS_DIR = Path(__file__).resolve().parent / "models"

#: Name of the hash file in :data:`MODELS_DIR` (``sha256sum`` format: ``HEX  FILE`` per line).
HASHES_FILE = "SHA256SUMS"

#: Shipped models: name -> (member files, level of theory). See models/MODEL_CARD.md.
DEFAULT_MODELS: dict[str, tuple[tuple[str, ...], str]] = {
    "water-nacl": (
        ("water-nacl-0.model", "water-nacl-1.model", "water-nacl-2.model"),
        "PySCF PBE/def2-SVP on water and Na+/Cl-/NaCl-water clusters",
    ),
    "cu-water-nacl": (
        ("cu-water-nacl-0.model", "cu-water-nacl-1.model", "cu-water-nacl-2.model"),
        "SevenNet-0 (MPtrj PBE; NOT the PySCF core's level), distilled by active learning on "
        "Cu(111)/NaCl(aq)",
    ),
}

#: What each shipped model was measured to do, one line for reports (the numbers, commands and
#: run times are in models/MODEL_CARD.md and docs/mlip.md).
MODEL_VALIDATION: dict[str, str] = {
    "water-nacl": (
        "held-out force MAE 54-59 meV/Å per member against PySCF PBE/def2-SVP on 25 water/ion "
        "clusters; absolute energies poor (~1 eV per cluster): use for forces only; no MD in "
        "its training data"
    ),
    "cu-water-nacl": (
        "held-out force MAE against its teacher SevenNet-0 29.9 meV/Å (committee; 181 MD "
        "frames), against PySCF PBE/def2-SVP water/ion clusters 152 meV/Å (teacher 130); "
        "held-out 100 ps Cu(111)|NaCl(aq) film at 300 and 350 K without integrity violation; "
        "bulk water like its teacher over 3 ps (g_OO test p = 0.20), over-structured and slow "
        "over 20 ps (g_OO peak 3.57, experiment 2.57; D 0.77e-9, experiment 2.30e-9 m²/s): its "
        "transport coefficients are the model's, not experimental ones"
    ),
}

#: The MD → continuum → MD round trip measured with a shipped model
#: (``benchmarks/ion_round_trip.py``; numbers from benchmarks/results/ion_round_trip.md).
MODEL_ROUND_TRIP: dict[str, str] = {
    "cu-water-nacl": (
        "Na⁺ at Cu(111), 21 umbrella windows (F errors 0.2-0.75 kT) and 32 replicas released "
        "from 3.5 Å for 5 ps: the continuum (Smoluchowski on the windows' F, D⊥) predicts the "
        "first 340 fs (half-displacement time 313 ± 46 fs, MD 317 ± 152 fs) and the state "
        "reached after 3-5 ps (z within ±1.8), but between 0.5 and 2.5 ps the MD lags by about "
        "1.5 ps, up to 0.34 Å nearer the metal (inconsistent, z to -6.4), with memory in the "
        "ion's motion (autocorrelation lobe -0.31): a slower coordinate than z (the hydration "
        "shell) that 1D F(z), D⊥(z) average over; transients near the metal faster than a few "
        "ps inherit that limit"
    ),
}

#: Chemical symbols each shipped model covers (its ``atomic_numbers`` z table, read once from
#: the model files; ``tests/test_mlip_trust.py`` checks them against the files).
_MODEL_ELEMENTS: dict[str, tuple[str, ...]] = {
    "water-nacl": ("H", "O", "Na", "Cl"),
    "cu-water-nacl": ("H", "O", "Na", "Cl", "Cu"),
}


def model_elements(name: str) -> frozenset[str]:
    """The chemical symbols a shipped model covers, without loading it (no torch import).

    Parameters
    ----------
    name : str
        A key of :data:`DEFAULT_MODELS` (e.g. ``"water-nacl"``).

    Returns
    -------
    frozenset of str
        Chemical symbols (e.g. ``{"H", "O", "Na", "Cl"}``); a system with any other element
        cannot be evaluated by the model.
    """
    if not isinstance(name, str) or name not in _MODEL_ELEMENTS:
        raise ValueError(f"unknown default model {name!r}: choose one of {sorted(DEFAULT_MODELS)}.")
    return frozenset(_MODEL_ELEMENTS[name])


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 hex digest of a file's bytes.

    Parameters
    ----------
    path : path-like
        The file.

    Returns
    -------
    str
        64 lowercase hexadecimal characters.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped_hashes(models_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """The committed SHA-256 hashes of the shipped model files.

    Parameters
    ----------
    models_dir : path-like, optional
        Directory holding the models and ``SHA256SUMS`` (default :data:`MODELS_DIR`).

    Returns
    -------
    dict
        File name -> hex digest; empty when the hash file is missing.
    """
    path = Path(MODELS_DIR if models_dir is None else models_dir) / HASHES_FILE
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, _, name = line.strip().partition("  ")
            out[name.lstrip("*")] = digest.lower()
    return out


def write_shipped_hashes(models_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """Hash every ``*.model`` file in ``models_dir`` and rewrite ``SHA256SUMS`` atomically.

    Run it (``python -m multiscale.mlip.build_default hashes``) only after rebuilding the
    models yourself: it declares the files in the directory trusted.

    Parameters
    ----------
    models_dir : path-like, optional
        Directory holding the models (default :data:`MODELS_DIR`).

    Returns
    -------
    dict
        File name -> hex digest, as written.
    """
    folder = Path(MODELS_DIR if models_dir is None else models_dir)
    hashes = {p.name: sha256_file(p) for p in sorted(folder.glob("*.model"))}
    text = "".join(f"{digest}  {name}\n" for name, digest in hashes.items())
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=HASHES_FILE, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, folder / HASHES_FILE)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return hashes


def load_default_model(
    name: str = "water-nacl",
    committee: bool = False,
    num_threads: int | None = None,
    dtype: str = "float64",
    device: str = "cpu",
) -> Calculator:
    """An ASE calculator for a shipped MACE model (float64 or float32, CPU or GPU).

    Every file is checked against its committed SHA-256 hash before it is loaded.

    Parameters
    ----------
    name : str
        ``"water-nacl"`` (PySCF PBE/def2-SVP labels) or ``"cu-water-nacl"`` (distilled from
        SevenNet-0 by active learning; its level of theory is SevenNet-0's, i.e. the PBE of
        the Materials Project, not the PySCF core's).
    committee : bool
        Return a :class:`~multiscale.mlip.CommitteeCalculator` of all shipped members (trained
        with different seeds) instead of the first member alone.
    num_threads : int, optional
        Torch CPU threads to set (≥ 1).
    dtype : {"float64", "float32"}
        Inference precision (see :func:`~multiscale.mlip.train.mace_calculator`); float32 is
        faster, its force error against float64 is measured in ``benchmarks/md.py``.
    device : str
        ``"cpu"`` (default) or ``"cuda"`` / ``"cuda:N"`` for an NVIDIA GPU (see
        :func:`~multiscale.mlip.train.mace_calculator`).

    Returns
    -------
    ase.calculators.calculator.Calculator
        A MACE calculator, or a committee of them.
    """
    from multiscale.mlip.committee import CommitteeCalculator
    from multiscale.mlip.train import mace_calculator

    if not isinstance(name, str) or name not in DEFAULT_MODELS:
        raise CalculatorSetupError(
            f"unknown default model {name!r}; choose one of {sorted(DEFAULT_MODELS)}."
        )
    files, _level = DEFAULT_MODELS[name]
    if committee and len(files) < 2:
        raise CalculatorSetupError(f"model {name!r} ships a single member; use committee=False.")
    paths = [MODELS_DIR / f for f in (files if committee else files[:1])]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise CalculatorSetupError(
            f"shipped model files missing: {missing}; rebuild them with "
            "`python -m multiscale.mlip.build_default` (see models/MODEL_CARD.md)."
        )
    if not committee:
        return mace_calculator(paths[0], num_threads=num_threads, dtype=dtype, device=device)
    return CommitteeCalculator(
        [mace_calculator(p, num_threads=num_threads, dtype=dtype, device=device) for p in paths]
    )
