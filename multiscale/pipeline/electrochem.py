"""Electrochemistry of the pipeline: tabulated reference data, the pit's inputs from MD, and
the quantities an electrochemist checks first (concentration simulated, λ_D, Gouy–Chapman).

Everything here is plain NumPy (no DOLFINx). Units: SI unless a name says otherwise.

References
----------
* D of ions at infinite dilution, 25 °C: D. R. Lide (ed.), *CRC Handbook of Chemistry and
  Physics*, "Ionic conductivity and diffusion at infinite dilution" (85th ed., 2004).
* Water self-diffusion, 25 °C: M. Holz, S. R. Heil, A. Sacco, Phys. Chem. Chem. Phys. 2,
  4740 (2000): 2.299e-9 m²/s.
* Relative permittivity of water: C. G. Malmberg, A. A. Maryott, J. Res. Natl. Bur. Stand.
  56, 1 (1956): ε(t) = 87.740 − 0.40008 t + 9.398e-4 t² − 1.410e-6 t³ (t in °C, 0-100 °C).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DIFFUSION_25C",
    "METAL_IONS",
    "bulk_diffusion",
    "double_layer",
    "pit_inputs",
    "product_element",
    "product_for_metal",
    "simulated_concentration",
    "water_permittivity",
]

LIDE = "CRC Handbook (Lide), 25 °C, infinite dilution"
HOLZ = "Holz, Heil, Sacco, PCCP 2, 4740 (2000), 25 °C"

#: D (m²/s) at 25 °C and its reference, by species name as the pipeline writes it.
DIFFUSION_25C: dict[str, tuple[float, str]] = {
    "H2O": (2.299e-9, HOLZ),
    "Na+": (1.334e-9, LIDE),
    "K+": (1.957e-9, LIDE),
    "Li+": (1.029e-9, LIDE),
    "Ca2+": (0.792e-9, LIDE),
    "Cl-": (2.032e-9, LIDE),
    "Cu2+": (0.714e-9, LIDE),
    "Fe2+": (0.719e-9, LIDE),
    "Fe3+": (0.604e-9, LIDE),
    "Zn2+": (0.703e-9, LIDE),
    "Ni2+": (0.661e-9, LIDE),
    "Co2+": (0.732e-9, LIDE),
    "Mn2+": (0.712e-9, LIDE),
    "Mg2+": (0.706e-9, LIDE),
    "Cd2+": (0.719e-9, LIDE),
    "Pb2+": (0.945e-9, LIDE),
    "Ag+": (1.648e-9, LIDE),
    "Al3+": (0.541e-9, LIDE),
}


@dataclass(frozen=True)
class MetalIon:
    """The usual dissolution product of a metal in water and its tabulated data."""

    name: str
    charge: int
    diffusion: float  # m²/s, 25 °C
    reference: str


#: metal -> its common aqueous dissolution product (active dissolution, near-neutral chloride).
METAL_IONS: dict[str, MetalIon] = {
    m: MetalIon(p, int(re.fullmatch(r"[A-Z][a-z]?(\d*)\+", p).group(1) or 1), *DIFFUSION_25C[p])
    for m, p in {
        "Cu": "Cu2+", "Fe": "Fe2+", "Zn": "Zn2+", "Ni": "Ni2+", "Co": "Co2+", "Mn": "Mn2+",
        "Mg": "Mg2+", "Cd": "Cd2+", "Pb": "Pb2+", "Ag": "Ag+", "Al": "Al3+",
    }.items()
}  # fmt: skip


def product_element(product: str) -> str | None:
    """Element of a product ion name such as ``"Fe2+"`` (None when it is not of that form)."""
    m = re.fullmatch(r"([A-Z][a-z]?)\d*\+", product)
    return m.group(1) if m else None


def product_for_metal(metal: str) -> MetalIon:
    """The dissolution product of ``metal`` (e.g. ``"Fe"`` → Fe²⁺, D = 7.19e-10 m²/s).

    Raises
    ------
    ValueError
        For a metal without a tabulated product (e.g. Au, Pt, Pd): give continuum.product,
        product_charge and product_diffusion_m2_per_s yourself.
    """
    if metal not in METAL_IONS:
        raise ValueError(
            f"continuum.metal = {metal!r} has no tabulated dissolution product (known: "
            f"{sorted(METAL_IONS)}); set continuum.product, continuum.product_charge and "
            "continuum.product_diffusion_m2_per_s yourself"
        )
    return METAL_IONS[metal]


def water_permittivity(temperature: float) -> float:
    """Relative permittivity of liquid water at ``temperature`` (K), Malmberg & Maryott (1956).

    78.30 at 298.15 K; valid from 273 to 373 K.
    """
    if not (np.isfinite(temperature) and 273.0 <= temperature <= 373.2):
        raise ValueError(
            f"temperature = {temperature} K is outside 273-373 K, where the permittivity fit of "
            "liquid water holds; give a temperature in kelvin"
        )
    t = temperature - 273.15
    return float(87.740 - 0.40008 * t + 9.398e-4 * t**2 - 1.410e-6 * t**3)


def bulk_water_permittivity(temperature: float) -> tuple[float, str]:
    """ε_r of bulk water that the continuum uses when MD gives none, and its source.

    :func:`water_permittivity` (Malmberg–Maryott) inside 273–373 K, else the continuum's
    default 78.46 (298 K).
    """
    try:
        return water_permittivity(temperature), "Malmberg–Maryott 1956"
    except ValueError:
        return 78.46, "298 K, continuum default"


def bulk_diffusion(profile, species: str, *, max_rel_err: float = 0.5) -> dict[str, Any]:
    """D of ``species`` in the bulk-like middle third of a profile (m²/s) and whether to trust it.

    The isotropic D = (D⊥ + 2 D∥)/3 when the profile has D∥, else D⊥; its error is the RMS
    of the bins' errors. It counts as converged when the relative error is below
    ``max_rel_err`` and, with D∥, 0.5 < D⊥/D∥ < 2 (bulk-like liquid is isotropic).

    Returns
    -------
    dict
        ``D_m2_per_s``, ``err_m2_per_s`` (None when unknown), ``converged`` (bool), ``why``
        (the reason it is not, else "").
    """
    k = profile.index(species)
    n = profile.z.size
    mid = slice(n // 3, max(n // 3 + 1, 2 * n // 3))
    d_perp = float(profile.diffusion[k][mid].mean())

    def rms(a):
        return None if a is None else float(np.sqrt(np.mean(a[k][mid] ** 2)))

    e_perp = rms(profile.diffusion_err)
    why = ""
    if profile.diffusion_parallel is not None:
        d_par = float(profile.diffusion_parallel[k][mid].mean())
        e_par = rms(profile.diffusion_parallel_err)
        d = (d_perp + 2 * d_par) / 3
        err = None if e_perp is None or e_par is None else float(np.hypot(e_perp, 2 * e_par) / 3)
        if not 0.5 < d_perp / d_par < 2:
            why = f"D⊥/D∥ = {d_perp / d_par:.2g} in the middle of the film (≈ 1 expected)"
    else:
        d, err = d_perp, e_perp
    if not why and err is not None and err > max_rel_err * d:
        why = f"relative error {err / d:.2g} > {max_rel_err:g}"
    # the same self-check as the report's: Hummer's bin-to-bin rates need a trajectory of
    # tens of bin-crossing times (bin² / 2D); a shorter one gives a D that is not converged
    # whatever its blocking error says
    prov = profile.provenance or {}
    settings = (prov.get("diffusion_perp_settings") or {}).get(species, {})
    if not why and settings.get("bin_width_A") and prov.get("n_frames") and d > 0:
        t_traj_ps = prov["n_frames"] * float(prov.get("timestep_fs", 0.0)) / 1000
        t_cross_ps = (settings["bin_width_A"] * 1e-10) ** 2 / (2 * d) * 1e12
        if t_traj_ps < 10 * t_cross_ps:
            why = (
                f"the trajectory ({t_traj_ps:.2g} ps) is shorter than 10 bin-crossing times "
                f"({t_cross_ps:.2g} ps each)"
            )
    return {"D_m2_per_s": d, "err_m2_per_s": err, "converged": not why, "why": why}


def _row(parameter: str, value: Any, unit: str, source: str) -> dict[str, Any]:
    return {"parameter": parameter, "value": value, "unit": unit, "source": source}


#: largest error (V) of an MD reaction-plane potential that the Frumkin term accepts: 2 kT/e at
#: 298 K (a larger error changes the Butler–Volmer exponential by more than a factor e²)
FRUMKIN_MAX_ERR_V = 0.05


def pit_inputs(cfg: dict, profile=None) -> dict[str, Any]:
    """The pit's product, D and Frumkin potential, each with where it came from.

    Parameters
    ----------
    cfg : dict
        The validated ``[continuum]`` section (``metal`` filled in from md.metal).
    profile : TransportProfile, optional
        The MD profile (SI); without it every input comes from the tables or the config.

    Returns
    -------
    dict
        ``product``, ``charge``, ``diffusion_m2_per_s`` (m²/s), ``reaction_plane_potential_V``
        (V), ``electrolyte`` (per species: MD and table D, used or why not), ``stern`` and
        ``inputs`` (rows: parameter, value, unit, source).
    """
    rows: list[dict[str, Any]] = []
    metal = cfg["metal"]
    if cfg["product"]:
        product, charge = cfg["product"], int(cfg["product_charge"])
        rows.append(_row("product ion", product, "", "config: continuum.product"))
    else:
        ion = product_for_metal(metal)
        product, charge = ion.name, ion.charge
        rows.append(_row("product ion", product, "", f"table: usual product of {metal} "
                         "(continuum.metal = md.metal)"))  # fmt: skip
    electrolyte: dict[str, Any] = {}
    ratios = []
    d_md = None
    if profile is not None and product in profile.species:
        b = bulk_diffusion(profile, product)
        if b["converged"] and cfg["diffusion_source"] == "md":
            d_md = b["D_m2_per_s"]
    if profile is not None:
        for name in profile.species:
            if name not in DIFFUSION_25C or name == product:
                continue
            b = bulk_diffusion(profile, name)
            ref, where = DIFFUSION_25C[name]
            b.update(table_m2_per_s=ref, table_reference=where, used=False)
            if cfg["diffusion_source"] == "md" and b["converged"]:
                b["used"] = True
                ratios.append(b["D_m2_per_s"] / ref)
            electrolyte[name] = b
    if cfg["product_diffusion_m2_per_s"] > 0:
        d, src = cfg["product_diffusion_m2_per_s"], "config: continuum.product_diffusion_m2_per_s"
    elif d_md is not None:
        d, src = d_md, f"MD: D of {product} in the profile's bulk region (middle third)"
    elif product not in DIFFUSION_25C:
        raise ValueError(
            f"continuum.product = {product!r} has no tabulated D; set "
            "continuum.product_diffusion_m2_per_s (m²/s)"
        )
    else:
        d_tab, where = DIFFUSION_25C[product]
        if ratios:
            factor = float(np.exp(np.mean(np.log(ratios))))
            used = [n for n, b in electrolyte.items() if b["used"]]
            d = d_tab * factor
            src = (f"table ({where}) × MD mobility factor {factor:.3g} = D_MD/D_exp of "
                   f"{', '.join(used)} in the profile's bulk region (Stokes–Einstein)")  # fmt: skip
        else:
            d = d_tab
            if cfg["diffusion_source"] == "table":
                why = "continuum.diffusion_source = table"
            elif profile is None:
                why = "no profile"
            elif electrolyte:
                why = "no converged electrolyte D in the profile: " + "; ".join(
                    f"{n}: {b['why']}" for n, b in electrolyte.items()
                )
            else:
                why = "the profile has no electrolyte species with a tabulated D"
            src = f"table ({where}); not from MD: {why}"
    rows.append(_row(f"D({product})", float(d), "m²/s", src))
    # Frumkin: the MD potential of the reaction plane (first bin) relative to the bulk
    phi_d, src = 0.0, "none (η = E − E_eq)"
    if not cfg["frumkin"]:
        src = "none: continuum.frumkin = false"
    elif profile is None or profile.potential is None:
        src = "none: the profile has no φ(z) (not from MD)"
    else:
        n = profile.z.size
        mid = slice(n // 3, max(n // 3 + 1, 2 * n // 3))
        val = float(profile.potential[0] - profile.potential[mid].mean())
        err = None
        if profile.potential_err is not None:
            pe = np.asarray(profile.potential_err, dtype=float)
            err = float(np.hypot(pe[0], pe[mid].mean()))
        elec = (profile.provenance or {}).get("electrostatics") or {}
        if abs(val) > 0.5:
            src = f"none: MD φ(first bin) − φ(bulk) = {val:.3g} V is implausible (|φ_d| > 0.5 V)"
        elif elec.get("potential_drop_converged") is False:
            src = (
                f"none: the MD interfacial potential has not converged (φ_d = {val:.3g} V "
                "without a converged error bar; section 3)"
            )
        elif err is not None and not err <= FRUMKIN_MAX_ERR_V:
            # e^(α n F φ_d/RT): an error of 2 kT/e in φ_d is a factor e² or more in the current
            src = (
                f"none: MD φ_d = {val:.3g} ± {err:.2g} V, error above {FRUMKIN_MAX_ERR_V} V "
                "(2 kT/e)"
            )
        else:
            phi_d, src = val, "MD: φ(first bin) − φ(bulk region)"
    rows.append(_row("reaction-plane potential φ_d (Frumkin)", phi_d, "V", src))
    # Stern capacitance: measured charge separation (reported; the pit solves no Poisson)
    stern: dict[str, Any] = {"C_S_F_per_m2": None}
    if profile is None:
        stern["why"] = "no profile"
    else:
        from continuum import stern_capacitance_from_profile

        try:
            eps = None if profile.permittivity is not None else 6.0
            stern["C_S_F_per_m2"] = float(stern_capacitance_from_profile(profile, permittivity=eps))
            stern["why"] = "" if eps is None else "ε_r = 6 assumed (first water layer)"
        except ValueError as err:
            stern["why"] = str(err)
    rows.append(_row("Stern capacitance C_S (reported; the pit solves no Poisson)",
                     stern["C_S_F_per_m2"], "F/m²",
                     "MD: charge separation of the profile" if stern["C_S_F_per_m2"] is not None
                     else f"not available: {stern['why']}"))  # fmt: skip
    for key, unit in (
        ("exchange_current_A_per_m2", "A/m²"), ("equilibrium_potential_V", "V"),
        ("overpotential_V", "V"), ("product_bulk_mol_per_m3", "mol/m³"),
        ("temperature_K", "K"),
    ):  # fmt: skip
        rows.append(_row(key, cfg[key], unit, f"config: continuum.{key}"))
    return {
        "metal": metal,
        "product": product,
        "charge": charge,
        "diffusion_m2_per_s": float(d),
        "reaction_plane_potential_V": phi_d,
        "electrolyte": electrolyte,
        "stern": stern,
        "inputs": rows,
    }


def simulated_concentration(
    n_pairs: int,
    n_water: int,
    area_A2: float,
    thickness_A: float,
    temperature: float = 298.15,
    charges: tuple[int, int] = (1, -1),
    nu: tuple[int, int] = (1, 1),
) -> dict[str, Any]:
    """Salt concentration of the simulated film and its Debye length.

    Parameters
    ----------
    n_pairs : int
        Formula units of salt in the film.
    n_water : int
        Water molecules in the film.
    area_A2 : float
        Lateral cell area (Å²).
    thickness_A : float
        Thickness of the water film (Å).
    temperature : float
        Temperature (K).
    charges, nu : tuple of int
        Charge numbers (e) and ions per formula unit of cation and anion.

    Returns
    -------
    dict
        ``molality_mol_per_kg``, ``molarity_mol_per_L``, ``water_density_g_per_cm3``,
        ``permittivity`` (water, Malmberg–Maryott; None outside its 273–373 K fit),
        ``debye_length_nm`` (None without salt or permittivity).
    """
    from continuum import debye_length

    if n_water <= 0 or area_A2 <= 0 or thickness_A <= 0:
        raise ValueError(
            f"need n_water > 0, area_A2 > 0 (Å²) and thickness_A > 0 (Å), got {n_water}, "
            f"{area_A2}, {thickness_A}"
        )
    avogadro = 6.02214076e23
    vol_l = area_A2 * thickness_A * 1e-27
    molality = n_pairs / (n_water * 18.015e-3)
    molarity = n_pairs / (avogadro * vol_l)
    try:
        eps = water_permittivity(temperature)
    except ValueError:  # outside the fit (e.g. temperature-mapped MD at 400 K): no Debye length
        eps = None
    lam = None
    if n_pairs > 0 and eps is not None:
        c = [nu[0] * molarity * 1e3, nu[1] * molarity * 1e3]
        lam = debye_length(c, list(charges), eps, temperature) * 1e9
    return {
        "n_pairs": int(n_pairs),
        "n_water": int(n_water),
        "molality_mol_per_kg": molality,
        "molarity_mol_per_L": molarity,
        "water_density_g_per_cm3": n_water * 18.015 / avogadro / (vol_l * 1e3),
        "permittivity": eps,
        "temperature_K": float(temperature),
        "debye_length_nm": lam,
    }


def double_layer(profile, *, cation: str | None = None, anion: str | None = None) -> dict:
    """Gouy–Chapman comparison of the MD diffuse layer, where it applies.

    It applies when the profile has a cation and an anion of a symmetric z:z salt and φ(z).
    The surface potential is φ(first bin) − φ(bulk); the bulk is the middle third.

    Returns
    -------
    dict
        ``applies`` (bool), ``why`` (when not), else ``debye_length_nm``,
        ``surface_potential_V``, ``md_diffuse_charge_C_per_m2`` (−∫ρ dz, the metal side's
        charge), ``grahame_charge_C_per_m2`` and ``rows`` (z, c_MD, c_GC per ion).
    """
    from continuum import analytic, debye_length

    z_ = np.asarray(profile.charges)
    cats = [s for s, q in zip(profile.species, z_, strict=True) if q > 0]
    ans = [s for s, q in zip(profile.species, z_, strict=True) if q < 0]
    cation = cation or (cats[0] if cats else None)
    anion = anion or (ans[0] if ans else None)
    if cation is None or anion is None:
        return {"applies": False, "why": "the profile has no profile of both a cation and an "
                "anion (an ion that did not visit every bin is left out; section 3)"}  # fmt: skip
    zc, za = int(z_[profile.index(cation)]), int(z_[profile.index(anion)])
    if zc != -za:
        return {"applies": False, "why": f"{cation}/{anion} is not a symmetric z:z salt"}
    if profile.potential is None:
        return {"applies": False, "why": "the profile has no φ(z) (section 3)"}
    n = profile.z.size
    mid = slice(n // 3, max(n // 3 + 1, 2 * n // 3))
    cc, ca = profile.concentration[profile.index(cation)], profile.concentration[
        profile.index(anion)]  # fmt: skip
    c_bulk = float(0.5 * (cc[mid].mean() + ca[mid].mean()))
    try:
        eps = water_permittivity(profile.temperature)
    except ValueError as err:  # e.g. a temperature-mapped MD profile at 400 K
        return {"applies": False, "why": f"no permittivity of water at the profile's "
                f"{profile.temperature:g} K: {err}"}  # fmt: skip
    phi0 = float(profile.potential[0] - profile.potential[mid].mean())
    x = profile.z - profile.z[0]
    _, gc_c, gc_a = analytic.gouy_chapman(x, phi0, c_bulk, valence=zc, permittivity=eps,
                                          temperature=profile.temperature)  # fmt: skip
    half = slice(0, max(2, n // 2))
    rho = 96485.33212 * zc * (cc - ca)
    q_md = -float(np.trapezoid(rho[half], profile.z[half]))
    q_gc = analytic.grahame_charge(phi0, c_bulk, valence=zc, permittivity=eps,
                                   temperature=profile.temperature)  # fmt: skip
    lam = debye_length([c_bulk, c_bulk], [zc, -zc], eps, profile.temperature)
    rows = [
        {"z_nm": float(x[i] * 1e9), "c_md": [float(cc[i]), float(ca[i])],
         "c_gc": [float(gc_c[i]), float(gc_a[i])]}
        for i in range(n)
    ]  # fmt: skip
    return {
        "applies": True,
        "cation": cation,
        "anion": anion,
        "c_bulk_mol_per_L": c_bulk / 1e3,
        "permittivity": eps,
        "debye_length_nm": lam * 1e9,
        "surface_potential_V": phi0,
        "md_diffuse_charge_C_per_m2": q_md,
        "grahame_charge_C_per_m2": q_gc,
        "rows": rows,
    }
