"""Boundary conditions, sources and initial states of :class:`~continuum.NernstPlanckProblem`.

The set-up API (``set_concentration``, ``set_flux``, ``set_potential``,
``set_surface_charge``, ``add_electrode``, ``add_source``, ``set_initial``,
``set_initial_potential``) records the conditions; ``update_potential`` and
``update_electrode`` change their values between solves. The forms of the natural
(flux, charge, electrode) terms are built by :mod:`continuum.nernst_planck`,
:mod:`continuum.poisson` and :mod:`continuum.electrode`; the Dirichlet conditions here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import ufl
from dolfinx import fem

from .species import ButlerVolmer
from .validation import check_finite_number as _check_finite_number
from .validation import is_number as _is_number

__all__ = ["BoundaryConditions"]


class BoundaryConditions:
    """Mixin of :class:`~continuum.NernstPlanckProblem`: conditions, sources, initial state."""

    def _require_unbuilt(self) -> None:
        if self._built:
            raise ValueError(
                "boundary conditions and sources must be set before the first solve(); "
                "create a new NernstPlanckProblem to change them (values of existing "
                "conditions can be changed with update_potential / update_electrode)"
            )

    def _check_boundary(self, boundary: str) -> str:
        self.domain.tag(boundary)  # ValueError listing the names
        return boundary

    # ------------------------------------------------------------------ set-up API
    def set_concentration(self, species: str, boundary: str, value: float | Callable) -> None:
        """Dirichlet condition c = ``value`` (mol/m³, > 0; number or function of x)."""
        self._require_unbuilt()
        i = self._species_index(species)
        self._check_boundary(boundary)
        if (i, boundary) in self._flux_bc:
            raise ValueError(f"{species} already has a flux condition on {boundary!r}")
        if not (_is_number(value) or callable(value)):
            raise TypeError(
                f"concentration of {species} on {boundary!r} must be a number or a function "
                f"of x (mol/m^3), got {type(value).__name__}"
            )
        if _is_number(value):
            _check_finite_number(f"concentration of {species} on {boundary!r}", value, "mol/m^3")
        if _is_number(value) and not value > 0:
            raise ValueError(
                f"concentration of {species} on {boundary!r} must be > 0 mol/m^3 (log "
                f"unknowns); use a small positive value such as 1e-6 instead of {value}"
            )
        self._conc_bc[(i, boundary)] = value

    def set_flux(self, species: str, boundary: str, value: float | Callable) -> None:
        """Prescribed outward normal flux J·n = ``value`` (mol m⁻² s⁻¹; negative = inflow)."""
        self._require_unbuilt()
        i = self._species_index(species)
        self._check_boundary(boundary)
        if (i, boundary) in self._conc_bc:
            raise ValueError(f"{species} already has a concentration condition on {boundary!r}")
        if not (_is_number(value) or callable(value)):
            raise TypeError("flux must be a number or a function of x (mol m^-2 s^-1)")
        if _is_number(value):
            _check_finite_number(f"flux of {species} on {boundary!r}", value, "mol m^-2 s^-1")
        self._flux_bc[(i, boundary)] = value

    def set_potential(self, boundary: str, value: float | Callable) -> None:
        """Dirichlet condition φ = ``value`` (V) on ``boundary`` (Poisson only)."""
        self._require_unbuilt()
        if not self.solves_poisson:
            raise ValueError("the potential is prescribed: set_potential needs potential='poisson'")
        self._check_boundary(boundary)
        if boundary in (*self._charge_bc, *self._electrodes, *self._stern_bc):
            raise ValueError(f"{boundary!r} already has a charge, Stern or electrode condition")
        if not (_is_number(value) or callable(value)):
            raise TypeError("potential must be a number or a function of x (V)")
        if _is_number(value):
            _check_finite_number(f"potential on {boundary!r}", value, "V")
        self._pot_bc[boundary] = value

    def set_surface_charge(self, boundary: str, value: float | Callable) -> None:
        """Surface charge density σ (C/m²) of a wall: ε0 ε_r ∂φ/∂n = σ (Poisson only)."""
        self._require_unbuilt()
        if not self.solves_poisson:
            raise ValueError("surface charge enters Poisson's equation: use potential='poisson'")
        self._check_boundary(boundary)
        if boundary in self._pot_bc or boundary in self._electrodes or boundary in self._stern_bc:
            raise ValueError(f"{boundary!r} already has a potential, Stern or electrode condition")
        if not (_is_number(value) or callable(value)):
            raise TypeError("surface charge must be a number or a function of x (C/m^2)")
        if _is_number(value):
            _check_finite_number(f"surface charge on {boundary!r}", value, "C/m^2")
        self._charge_bc[boundary] = value

    def add_electrode(
        self,
        boundary: str,
        kinetics: ButlerVolmer,
        potential: float,
        *,
        reaction_plane_potential: float = 0.0,
    ) -> None:
        """Butler–Volmer electrode on ``boundary`` held at metal ``potential`` E (V).

        The product species (``kinetics.species``) enters the solution with the flux
        i/(nF); the other species see a blocking wall. With Poisson, the metal charge is
        C_S (E − φ_s) (Stern layer, ``kinetics.stern_capacitance`` required).

        Frumkin correction. The rate uses the potential drop between the metal and the
        reaction plane and the product's concentration at that plane:
        η = E − φ_rp − E_eq and c_rp = c_s exp(−z F φ_d / RT), with φ_rp = φ_s + φ_d. Here
        φ_s and c_s are the solution's values at the wall (the solved or prescribed
        potential; 0 without a field) and φ_d is ``reaction_plane_potential``.

        Parameters
        ----------
        boundary : str
            Wall name.
        kinetics : ButlerVolmer
            The reaction (SI).
        potential : float
            Metal potential E (V).
        reaction_plane_potential : float
            φ_d (V): potential of the reaction plane relative to the solution at the wall,
            for a diffuse layer that the mesh does not resolve (e.g. the MD potential at
            the outer Helmholtz plane relative to the bulk). 0 (default): the wall is the
            reaction plane; without a field that means the electrode's potential alone,
            η = E − E_eq. Must be 0 when Poisson's equation is solved: the diffuse layer is
            then resolved and φ_s already is the reaction plane's potential.
        """
        self._require_unbuilt()
        if not isinstance(kinetics, ButlerVolmer):
            raise TypeError("kinetics must be a continuum.ButlerVolmer")
        self._check_boundary(boundary)
        i = self._species_index(kinetics.species)
        if (i, boundary) in self._conc_bc or (i, boundary) in self._flux_bc:
            raise ValueError(f"{kinetics.species} already has a condition on {boundary!r}")
        if boundary in self._pot_bc or boundary in self._charge_bc or boundary in self._stern_bc:
            raise ValueError(f"{boundary!r} already has a potential, charge or Stern condition")
        if self.solves_poisson and kinetics.stern_capacitance is None:
            raise ValueError(
                "with potential='poisson' the electrode needs a Stern layer: give "
                "ButlerVolmer(stern_capacitance=...) in F/m^2 (e.g. 0.1-0.3)"
            )
        potential = _check_finite_number(f"electrode potential on {boundary!r}", potential, "V")
        phi_d = _check_finite_number(
            f"reaction_plane_potential on {boundary!r}", reaction_plane_potential, "V"
        )
        if phi_d != 0 and self.solves_poisson:
            raise ValueError(
                "reaction_plane_potential must be 0 with potential='poisson': the diffuse "
                "layer is resolved and its potential at the wall is the reaction plane's; "
                "give it only when the potential is prescribed or absent"
            )
        self._electrodes[boundary] = (kinetics, potential)
        self._reaction_plane[boundary] = phi_d

    def set_stern_layer(self, boundary: str, capacitance: float, potential: float) -> None:
        """Blocking metal wall at ``potential`` E (V) behind a Stern layer (Poisson only).

        The wall carries the metal charge σ = C_S (E − φ_s) (C/m²), φ_s being the solution
        potential at the wall (the outer Helmholtz plane): the Robin condition
        ε0 ε_r ∂φ/∂n = C_S (E − φ_s) with n the outward normal of the solution. No species
        crosses the wall. C_S may come from the measured charge separation,
        :func:`continuum.stern.stern_capacitance_from_profile`.

        Parameters
        ----------
        boundary : str
            Wall name.
        capacitance : float
            Stern capacitance C_S (F/m², > 0; typically 0.1–0.3).
        potential : float
            Metal potential E (V), on the scale of φ.
        """
        self._require_unbuilt()
        if not self.solves_poisson:
            raise ValueError("a Stern layer enters Poisson's equation: use potential='poisson'")
        self._check_boundary(boundary)
        if boundary in self._pot_bc or boundary in self._charge_bc or boundary in self._electrodes:
            raise ValueError(f"{boundary!r} already has a potential, charge or electrode condition")
        cap = _check_finite_number(f"Stern capacitance on {boundary!r}", capacitance, "F/m^2")
        if not cap > 0:
            raise ValueError(
                f"Stern capacitance on {boundary!r} must be > 0 F/m^2 (typically 0.1-0.3), "
                f"got {capacitance}"
            )
        E = _check_finite_number(f"metal potential on {boundary!r}", potential, "V")
        self._stern_bc[boundary] = (cap, E)

    def add_source(self, species: str, value: float | Callable | ufl.core.expr.Expr) -> None:
        """Volume source s_i (mol m⁻³ s⁻¹): a number, a function of x, or a UFL expression
        in the SI coordinates :attr:`x`."""
        self._require_unbuilt()
        i = self._species_index(species)
        self._sources[i].append(value)

    def set_initial(self, species: str, value: float | Callable) -> None:
        """Initial (or initial-guess) concentration (mol/m³, > 0; number or function of x)."""
        i = self._species_index(species)
        f = self._q_function(value, f"initial concentration of {species}")
        self._check_positive(f, f"initial concentration of {species}")
        self.w.x.array[self._maps[i]] = np.log(f.x.array / self.reference_concentrations[i])
        self.w.x.scatter_forward()
        self._user_initial.add(i)

    def set_initial_potential(self, value: float | Callable) -> None:
        """Initial guess of the potential (V) when Poisson is solved."""
        if not self.solves_poisson:
            raise ValueError("the potential is prescribed; nothing to initialise")
        f = self._q_function(value, "initial potential")
        self.w.x.array[self._maps[-1]] = f.x.array / self.thermal_voltage
        self.w.x.scatter_forward()

    def _dirichlet(self, i: int, g: fem.Function, boundary: str) -> fem.DirichletBC:
        facets = self.domain.facets(boundary)
        fdim = self._tdim - 1
        if self.n_fields == 1:
            return fem.dirichletbc(g, fem.locate_dofs_topological(self._V, fdim, facets))
        dofs = fem.locate_dofs_topological((self._V.sub(i), self._Q), fdim, facets)
        return fem.dirichletbc(g, dofs, self._V.sub(i))

    def update_potential(self, boundary: str, value: float) -> None:
        """Change the Dirichlet potential, or the metal potential of a Stern layer (V, a
        number) of ``boundary`` between solves."""
        if boundary in self._stern_bc:
            value = _check_finite_number(f"metal potential on {boundary!r}", value, "V")
            self._stern_bc[boundary] = (self._stern_bc[boundary][0], value)
            if self._built:
                self._set_load(self._load)
            return
        if boundary not in self._pot_bc:
            raise ValueError(
                f"{boundary!r} has no potential condition; set_potential or set_stern_layer first"
            )
        value = _check_finite_number(f"potential on {boundary!r}", value, "V")
        self._pot_bc[boundary] = value
        if self._built:
            idx = list(self._pot_bc).index(boundary)
            g, _ = self._bc_funcs[idx]
            self._bc_funcs[idx] = (g, np.full_like(g.x.array, value / self.thermal_voltage))
            self._set_load(self._load)

    def update_electrode(self, boundary: str, potential: float) -> None:
        """Change the metal potential E (V) of the electrode on ``boundary`` between solves."""
        if boundary not in self._electrodes:
            raise ValueError(f"{boundary!r} has no electrode; add_electrode first")
        potential = _check_finite_number(f"electrode potential on {boundary!r}", potential, "V")
        kin, _ = self._electrodes[boundary]
        self._electrodes[boundary] = (kin, float(potential))
        if self._built:
            k, _, par, form, p = self._electrode_data[boundary]
            self._electrode_data[boundary] = (k, float(potential), par, form, p)
            self._set_load(self._load)

    # ------------------------------------------------------------------ forms
    def _flux_condition_terms(self, i: int, v_i, surf, ds):
        """Natural terms ∫ Ĵ·n v dŝ of the prescribed fluxes of species ``i`` (or 0)."""
        term = 0
        for (j, name), value in self._flux_bc.items():
            if j != i:
                continue
            q = self._q_function(value, f"flux of {self.names[i]} on {name}")
            q.x.array[:] *= self.length_scale / (
                self.diffusion_scale * self.reference_concentrations[i]
            )
            self._flux_forms[(i, name)] = q * surf * ds(self.domain.tag(name))
            term = term + q * v_i * surf * ds(self.domain.tag(name))
        return term

    def _concentration_dirichlet(self, i: int) -> list[fem.DirichletBC]:
        """Dirichlet conditions ln(c/c_ref) = ln(g/c_ref) of species ``i``."""
        bcs = []
        for (j, name), value in self._conc_bc.items():
            if j != i:
                continue
            g = self._q_function(value, f"concentration of {self.names[i]} on {name}")
            self._check_positive(g, f"concentration of {self.names[i]} on {name!r}")
            g.x.array[:] = np.log(g.x.array / self.reference_concentrations[i])
            bcs.append(self._dirichlet(i, g, name))
            self._conc_g.append((i, name, g))
        return bcs

    def _surface_charge_terms(self, q, surf, ds):
        """Natural terms ∫ σ̂ q dŝ of the walls with a prescribed surface charge (or 0)."""
        from .constants import FARADAY

        term = 0
        for name, value in self._charge_bc.items():
            sig = self._q_function(value, f"surface charge on {name}")
            sig.x.array[:] /= FARADAY * self._c0 * self.length_scale
            term = term + sig * q * surf * ds(self.domain.tag(name))
            self._flux_forms[("charge", name)] = sig * surf * ds(self.domain.tag(name))
        return term

    def _potential_dirichlet(self) -> list[fem.DirichletBC]:
        """Dirichlet conditions φ̂ = φ_D/V_T (their values are scaled by the load)."""
        bcs = []
        for name, value in self._pot_bc.items():
            g = self._q_function(value, f"potential on {name}")
            g.x.array[:] /= self.thermal_voltage
            bcs.append(self._dirichlet(self.n_fields - 1, g, name))
            self._bc_funcs.append((g, g.x.array.copy()))
        return bcs
