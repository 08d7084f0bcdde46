"""The shipped production profile (``builtin:production``) against physics and its record.

Every number it holds must be physically sane (concentrations below the packing of the salt,
D of the order of liquid water's and ions no faster than water, finite F with error bars), it
must be the profile of its committed record (benchmarks/results/production_400K), and it must
carry what its run flagged as not converged, so that no run using it can present it as more
than it is.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from continuum import TransportProfile
from multiscale.pipeline.config import ROCK_SALT_ION_MOL_PER_L, resolve_profile
from multiscale.pipeline.profile_checks import run_caveats

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "benchmarks" / "results" / "production_400K"


@pytest.fixture(scope="module")
def prof() -> TransportProfile:
    return TransportProfile.read(resolve_profile("builtin:production"))


def test_species_axis_and_temperature(prof):
    assert prof.species == ["H2O", "Na+", "Cl-"]
    np.testing.assert_array_equal(prof.charges, [0, 1, -1])
    assert prof.temperature == pytest.approx(400.0)
    z = prof.z * 1e10
    assert np.all(np.diff(z) > 0)
    mid = prof.provenance["folded"]["midplane_from_surface_A"]
    assert 0 < z[0] and z[-1] < mid  # from the surface to the sandwich's midplane


def test_concentrations_are_physical(prof):
    c = prof.concentration / 1000  # mol/L
    err = prof.concentration_err / 1000
    assert np.all(np.isfinite(c)) and np.all(c >= 0) and np.all(err >= 0)
    water, na, cl = c
    assert np.all((30 < water) & (water < 75))  # liquid water is 55 mol/L
    # no ion denser than in rock salt (the packing limit the adsorbed layer saturates at)
    assert np.all(c[1:] <= ROCK_SALT_ION_MOL_PER_L * (1 + 1e-9))
    # the far end holds the md's 2 M salt for both ions (umbrella c_bulk reference)
    assert na[-1] == pytest.approx(2.0) and cl[-1] == pytest.approx(2.0)
    # Cl- adsorbs (its first bin far above the bulk), Na+ is repelled from the metal
    assert cl[0] > 5 * cl[-1] and na[0] < 0.5 * na[-1]


def test_diffusion_is_that_of_a_liquid_and_ions_are_not_faster_than_water(prof):
    for d, e in (
        (prof.diffusion, prof.diffusion_err),
        (prof.diffusion_parallel, prof.diffusion_parallel_err),
    ):
        assert np.all(np.isfinite(d)) and np.all(np.isfinite(e)) and np.all(e > 0)
        assert np.all((0.3e-9 < d) & (d < 10e-9))  # water at 400 K: ~3e-9 m²/s
        water = prof.diffusion_parallel[0]
        w_err = prof.diffusion_parallel_err[0]
        for k in (1, 2):
            ratio = d[k] / water
            sigma = ratio * np.hypot(e[k] / d[k], w_err / water)
            assert np.all(ratio - 2 * sigma <= 1.5), (prof.species[k], ratio, sigma)


def test_free_energy_has_error_bars(prof):
    f, e = prof.free_energy, prof.free_energy_err
    assert np.all(np.isfinite(f)) and np.all(np.isfinite(e)) and np.all(e >= 0)
    kt = 8.314462618 * prof.temperature  # J/mol
    assert np.all(np.abs(f) < 30 * kt)
    # the ions' F errors come from MBAR, with their covariance for the continuum
    for name in ("Na+", "Cl-"):
        cov = np.array(prof.provenance["umbrella"][name]["free_energy_cov_J2_per_mol2"])
        k = prof.species.index(name)
        np.testing.assert_allclose(np.sqrt(np.diag(cov)), e[k], rtol=1e-6, atol=1e-9)


def test_it_is_its_records_profile_and_carries_its_runs_flags(prof):
    record = TransportProfile.read(RECORD / "extract" / "profile.h5")
    for name in ("z", "concentration", "diffusion", "diffusion_parallel", "free_energy"):
        np.testing.assert_array_equal(getattr(prof, name), getattr(record, name))
    caveats = run_caveats(prof)
    assert caveats, "the production run's checks flag what has not converged"
    report = (RECORD / "report.md").read_text()
    listed = report.split("**Not converged / not trustworthy:**", 1)[1].split("\n\n", 2)[1]
    assert [line.removeprefix("- ") for line in listed.splitlines()] == caveats
    assert any("no bulk region" in c for c in caveats)
    assert prof.provenance["run"]["record"] == "benchmarks/results/production_400K"
    assert prof.provenance["species_source"] == {
        "H2O": "free MD", "Na+": "umbrella", "Cl-": "umbrella",
    }  # fmt: skip
