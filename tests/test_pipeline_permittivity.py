"""ε⊥(z), ε∥(z) from MD into the TransportProfile (issue #17 item 3): the convergence gate of
multiscale.extract.profile_builder.dielectric_permittivity on an ideal dipole gas whose answer
is known, and the report lines."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.units import kB

from continuum import TransportProfile
from multiscale.extract.electrostatics import EPS0
from multiscale.extract.profile_builder import dielectric_permittivity

R_OH, THETA, Q_H = 0.9572, np.deg2rad(104.52), 0.4238  # SPC/E
MU = 2 * Q_H * R_OH * np.cos(THETA / 2)  # e·Å
T = 300.0
SIDE, LZ, Z_LO, Z_HI = 12.0, 20.0, 4.0, 16.0  # Å: a gas slab between vacuum layers
N_WATER = 3


def gas_frames(n_frames: int, seed: int) -> list[Atoms]:
    """Randomly oriented rigid waters, O uniform in the slab Z_LO < z < Z_HI (no two O closer
    than 2.8 Å): orientations are independent, so inside the slab ε∥ − 1 = a and, for the
    tin-foil estimator, 1/ε⊥ = 1 − a / (1 + a f) with a = n μ² / (3 ε0 kT), n the slab's
    number density and f = (Z_HI − Z_LO) / LZ."""
    rng = np.random.default_rng(seed)
    c, s = R_OH * np.cos(THETA / 2), R_OH * np.sin(THETA / 2)
    out = []
    for _ in range(n_frames):
        o: list[np.ndarray] = []
        while len(o) < N_WATER:
            p = rng.uniform([0, 0, Z_LO], [SIDE, SIDE, Z_HI])
            d = [np.linalg.norm((p - q + SIDE / 2) % SIDE - SIDE / 2) for q in o]
            if not d or min(d) > 2.8:
                o.append(p)
        pos = []
        for p in o:
            a = rng.normal(size=3)
            a /= np.linalg.norm(a)
            b = rng.normal(size=3)
            b -= b @ a * a
            b /= np.linalg.norm(b)
            pos += [p, p + c * a + s * b, p + c * a - s * b]
        out.append(Atoms("OH2" * N_WATER, positions=pos, cell=[SIDE, SIDE, LZ], pbc=True))
    return out


def profile_on(z_centres_A: np.ndarray) -> TransportProfile:
    n = z_centres_A.size
    return TransportProfile(
        z=z_centres_A * 1e-10, species=["Na+"], charges=[1], concentration=np.full((1, n), 100.0),
        diffusion=np.full((1, n), 1e-9), temperature=T,
    )  # fmt: skip


A = N_WATER / (SIDE**2 * (Z_HI - Z_LO)) * MU**2 / (3 * EPS0 * kB * T)
EPS_PAR = 1.0 + A
EPS_PERP = 1.0 / (1.0 - A / (1.0 + A * (Z_HI - Z_LO) / LZ))
Z_BINS = 6.3 + 3.0 * np.arange(2) + 1.5  # bins [6.3, 9.3), [9.3, 12.3): not aligned with 0


def test_converged_permittivity_is_put_in_the_profile():
    frames = gas_frames(1200, seed=1)
    # ε⊥ converges slowly (about 0.4 relative error here), ε∥ fast (< 0.05)
    prof, s = dielectric_permittivity(profile_on(Z_BINS), frames, {}, n_blocks=8, max_rel_err=0.5)
    assert s["status"] == "accepted", s["why"]
    assert s["n_frames_used"] == 1200 and s["n_frames_skipped_broken_water"] == 0
    assert prof.permittivity is not None and prof.permittivity_parallel is not None
    # the known answer within 3 standard errors (1/ε⊥ is the estimator's normal variable)
    inv, inv_err = np.asarray(s["eps_perp_inv"]), np.asarray(s["eps_perp_inv_err"])
    assert np.all(np.abs(inv - 1 / EPS_PERP) < 3 * inv_err), (inv, 1 / EPS_PERP)
    np.testing.assert_allclose(prof.permittivity, 1 / inv)
    par_err = np.asarray(s["eps_parallel_err"])
    assert np.all(np.abs(prof.permittivity_parallel - EPS_PAR) < 3 * par_err)
    assert np.all(par_err < 0.05 * EPS_PAR)
    assert prof.provenance["permittivity"]["boundary"] == "tinfoil"
    # the default gate (0.2) withholds the same ε⊥ and names the worst bin
    same, s = dielectric_permittivity(profile_on(Z_BINS), frames, {}, n_blocks=8)
    assert s["status"] == "withheld" and same.permittivity is None
    assert f"rel. error of ε⊥ up to {s['max_rel_err_perp']:.3g} in bin" in s["why"]


def test_unconverged_permittivity_is_withheld_and_says_why():
    frames = gas_frames(16, seed=2)
    base = profile_on(Z_BINS)
    prof, s = dielectric_permittivity(base, frames, {}, n_blocks=4, max_rel_err=0.01)
    assert s["status"] == "withheld"
    assert s["why"].startswith("ε(z) not converged")
    assert "rel. error of ε∥ up to" in s["why"]
    assert prof is base and prof.permittivity is None
    # too few intact frames for the blocks
    _, s = dielectric_permittivity(base, frames[:5], {}, n_blocks=4)
    assert s["status"] == "withheld" and "too few for 4 blocks" in s["why"]


def test_frames_with_a_broken_water_are_left_out():
    frames = gas_frames(20, seed=3)
    broken = frames[0].copy()
    broken.positions[1] += [0.0, 0.0, 2.0]  # an H pulled off its O
    _, s = dielectric_permittivity(profile_on(Z_BINS), [broken, *frames], {}, n_blocks=4)
    assert s["n_frames_skipped_broken_water"] == 1 and s["n_frames_used"] == 20


def test_liquid_across_the_cell_boundary_is_refused():
    frames = gas_frames(8, seed=4)
    for a in frames:
        a.positions[:3, 2] += -a.positions[0, 2]  # one water around z = 0
    prof, s = dielectric_permittivity(profile_on(Z_BINS), frames, {}, n_blocks=2)
    assert s["status"] == "withheld" and "crosses the cell boundary along z" in s["why"]
    assert prof.permittivity is None


def test_bad_threshold_is_refused():
    with pytest.raises(ValueError, match="max_rel_err must be"):
        dielectric_permittivity(profile_on(Z_BINS), gas_frames(2, 0), {}, max_rel_err=0)


def test_stage_withholds_permittivity_when_phi_is_withheld():
    from multiscale.pipeline.stages import _extract_permittivity

    base = profile_on(Z_BINS)
    es = {"conductor_model": "not applied: every one of the 3 frames has a dissociated water"}
    cfg = {"ion_charges": {}, "water_model": "SPC/E", "n_blocks": 4, "bin_width_A": 3.0,
           "permittivity_max_rel_err": 0.2}  # fmt: skip
    s = _extract_permittivity(base, gas_frames(8, 5), cfg, {"temperature_K": T}, es, 0.0)
    prof = s.pop("profile")
    assert prof.permittivity is None and s["status"] == "withheld"
    assert prof.provenance["permittivity"]["why"] == s["why"]  # the continuum cites it
    assert "dissociated water" in s["why"] and s["bulk_value"] == pytest.approx(77.7, abs=0.3)


def test_continuum_takes_the_profile_permittivity_or_says_why_not():
    import dataclasses

    from multiscale.pipeline.continuum_adapter import profile_permittivity

    base = profile_on(Z_BINS)
    eps = profile_permittivity(base)
    assert eps["argument"] == pytest.approx(77.7, abs=0.3)  # water at 300 K
    assert eps["source"].startswith("table: bulk water (Malmberg–Maryott 1956); not from MD")
    withheld = dataclasses.replace(
        base, provenance={"permittivity": {"why": "ε(z) not converged: rel. error up to 3"}}
    )
    assert profile_permittivity(withheld)["source"].endswith("rel. error up to 3")
    md = dataclasses.replace(base, permittivity=np.array([2.0, 3.0]),
                             permittivity_parallel=np.array([4.0, 5.0]))  # fmt: skip
    eps = profile_permittivity(md)
    assert (eps["argument"], eps["argument_parallel"]) == ("profile", "profile")
    assert eps["value"] == "ε⊥ 2–3, ε∥ 4–5" and eps["source"].startswith("MD: ε⊥(z), ε∥(z)")


def test_report_says_whether_the_profile_carries_permittivity():
    from multiscale.pipeline.report import _checks, _permittivity_lines

    withheld = {
        "status": "withheld",
        "why": "ε(z) not converged: rel. error of ε⊥ up to 4.1 in bin 2",
        "bulk_value": 78.3,
        "bulk_source": "water, Malmberg–Maryott 1956",
    }
    text = "\n".join(_permittivity_lines(withheld))
    assert "**ε(z) is not in the profile**: ε(z) not converged: rel. error of ε⊥ up to 4.1" in text
    assert "the continuum uses ε = 78.3 (water, Malmberg–Maryott 1956)" in text
    _, todo = _checks({"extract": {"permittivity": withheld}})
    assert any(t.startswith("ε(z): not converged") for t in todo)
    accepted = {"status": "accepted", "eps_perp": [2.0, 3.0], "eps_parallel": [4.0, 5.0],
                "max_rel_err_perp": 0.15, "max_rel_err_parallel": 0.02,
                "max_rel_err_allowed": 0.2, "boundary": "tinfoil", "water_model": "SPC/E",
                "n_frames_used": 100}  # fmt: skip
    text = "\n".join(_permittivity_lines(accepted))
    assert "ε⊥ 2–3, ε∥ 4–5" in text and "largest relative error 0.15" in text
    _, todo = _checks({"extract": {"permittivity": accepted}})
    assert not any(t.startswith("ε(z)") for t in todo)
