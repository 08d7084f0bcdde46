"""Electrode kinetics: Butler–Volmer with a Stern layer (dimensionless forms).

The anodic current density of M → M^{z+} + n e⁻ at a wall with metal potential E is

    i = i0 [exp(α_a f η) − (c_s/c_ref) exp(−α_c f η)],   η = E − φ_s − E_eq,   f = F/RT,

with φ_s and c_s the solution's potential and product concentration at the wall (the
reaction plane). The product enters with the flux i/(nF). When Poisson's equation is
solved the metal charge is that of the Stern layer, σ = C_S (E − φ_s). Everything is
scaled as in :class:`~continuum.NernstPlanckProblem`: potentials by V_T, fluxes by
D_ref c_ref/L, charges by F c_0 L.
"""

from __future__ import annotations

import ufl

from .constants import FARADAY
from .species import ButlerVolmer

__all__ = ["Electrodes", "butler_volmer_parameters", "butler_volmer_rate", "stern_charge"]


def butler_volmer_parameters(
    kin: ButlerVolmer,
    potential: float,
    *,
    thermal_voltage: float,
    length_scale: float,
    diffusion_scale: float,
    product_reference: float,
    charge_scale: float,
    reaction_plane_potential: float = 0.0,
    product_charge: int = 0,
) -> list[float]:
    """Scaled parameters [E/V_T, E_eq/V_T, α_a, α_c, c_ref,p/c*, ĵ0, Ĉ_S, φ_d/V_T, z_p].

    Parameters
    ----------
    kin : ButlerVolmer
        The kinetics (SI).
    potential : float
        Metal potential E (V).
    thermal_voltage : float
        V_T = RT/F (V).
    length_scale : float
        L (m).
    diffusion_scale : float
        D_ref (m²/s).
    product_reference : float
        The product's reference concentration c_ref,p of the problem (mol/m³).
    charge_scale : float
        c_0 (mol/m³) of the Poisson scaling.
    reaction_plane_potential : float
        φ_d (V), the unresolved diffuse-layer potential of the reaction plane (Frumkin).
    product_charge : int
        z_p of the product (units of e).
    """
    vt = thermal_voltage
    j0 = (
        kin.exchange_current_density
        / (kin.electrons * FARADAY)
        * length_scale
        / (diffusion_scale * product_reference)
    )
    cs_hat = (
        0.0
        if kin.stern_capacitance is None
        else kin.stern_capacitance * vt / (FARADAY * charge_scale * length_scale)
    )
    return [
        potential / vt,
        kin.equilibrium_potential / vt,
        kin.alpha_anodic,
        kin.alpha_cathodic,
        product_reference / kin.reference_concentration,
        j0,
        cs_hat,
        reaction_plane_potential / vt,
        float(product_charge),
    ]


def butler_volmer_rate(par, u_product, phi_s):
    """Scaled production rate ĵ = i/(nF) · L/(D_ref c_ref,p) (UFL), Frumkin-corrected:
    η̂ = Ê − φ̂_s − φ̂_d − Ê_eq and c_rp = c_s exp(−z_p φ̂_d).

    Parameters
    ----------
    par : fem.Constant
        :func:`butler_volmer_parameters`.
    u_product : UFL expression
        ln(c_s/c_ref,p) at the wall.
    phi_s : UFL expression or float
        φ_s/V_T at the wall (0 without a field).
    """
    eta = par[0] - phi_s - par[7] - par[1]
    c_rp = ufl.exp(u_product - par[8] * par[7])
    return par[5] * (ufl.exp(par[2] * eta) - par[4] * c_rp * ufl.exp(-par[3] * eta))


def stern_charge(capacitance_hat, metal_hat, phi_s):
    """Scaled metal charge of a Stern layer, Ĉ_S (Ê − φ̂_s) (UFL)."""
    return capacitance_hat * (metal_hat - phi_s)


class Electrodes:
    """Mixin of :class:`~continuum.NernstPlanckProblem`: the electrode terms of the residual."""

    def _electrode_terms(self, w, v, phi, surf, ds, extra) -> None:
        """Add the Butler–Volmer (and Stern) terms of every electrode to ``extra`` (one
        form per field) and record their flux forms and parameters."""
        self._electrode_data = {}
        for name, (kin, E) in self._electrodes.items():
            p = self._species_index(kin.species)
            par = self._const(
                butler_volmer_parameters(
                    kin,
                    E,
                    thermal_voltage=self.thermal_voltage,
                    length_scale=self.length_scale,
                    diffusion_scale=self.diffusion_scale,
                    product_reference=self.reference_concentrations[p],
                    charge_scale=self._c0,
                    reaction_plane_potential=self._reaction_plane.get(name, 0.0),
                    product_charge=int(self.charges[p]),
                )
            )
            phis = phi if phi is not None else 0.0
            jhat = butler_volmer_rate(par, w[p], phis)
            tag = self.domain.tag(name)
            extra[p] += -jhat * v[p] * surf * ds(tag)  # outward flux = −production
            self._flux_forms[(p, name)] = -jhat * surf * ds(tag)
            if self.solves_poisson:
                sigma = stern_charge(par[6], par[0], phis)
                extra[-1] += -sigma * v[-1] * surf * ds(tag)
                self._flux_forms[("charge", name)] = sigma * surf * ds(tag)
            self._electrode_data[name] = (kin, E, par, jhat * surf * ds(tag), p)

    def _stern_terms(self, phi, q, surf, ds):
        """Natural terms ∫ Ĉ_S (Ê − φ̂_s) q dŝ of the Stern-layer walls (or 0); records the
        wall charge forms and the parameter constants [Ĉ_S, Ê] (Ê scaled by the load)."""
        self._stern_data = {}
        term = 0
        for name, (cap, E) in self._stern_bc.items():
            vt = self.thermal_voltage
            par = self._const([cap * vt / (FARADAY * self._c0 * self.length_scale), E / vt])
            sigma = stern_charge(par[0], par[1], phi)
            tag = self.domain.tag(name)
            term = term + sigma * q * surf * ds(tag)
            self._flux_forms[("charge", name)] = sigma * surf * ds(tag)
            self._stern_data[name] = par
        return term
