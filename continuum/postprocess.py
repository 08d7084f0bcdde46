"""Post-processing of :class:`~continuum.NernstPlanckProblem`: fields, fluxes, currents,
plausibility checks and output (VTX files, 1D samples and plots)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import ufl
from dolfinx import fem, la
from mpi4py import MPI

from .constants import FARADAY
from .results import SANE_MAX_CONCENTRATION
from .validation import max_over as _max_over

__all__ = ["PostProcessing"]

log = logging.getLogger("continuum")


class PostProcessing:
    """Mixin of :class:`~continuum.NernstPlanckProblem`: results and output."""

    def _sanity_warnings(self) -> list[str]:
        """Physical-plausibility checks of the current state (collective); logged."""
        out = []
        n_own = self._Q.dofmap.index_map.size_local
        for i, name in enumerate(self.names):
            u = self.w.x.array[self._maps[i][:n_own]]
            finite = self.comm.allreduce(int(np.all(np.isfinite(u))), op=MPI.MIN)
            if not finite:
                out.append(f"c({name}) has NaN or infinite values")
                continue
            umax = _max_over(self.comm, float(np.max(u, initial=-np.inf)))
            umin = -_max_over(self.comm, float(np.max(-u, initial=-np.inf)))
            cmax = self.reference_concentrations[i] * np.exp(umax)
            cmin = self.reference_concentrations[i] * np.exp(umin)
            if cmax > SANE_MAX_CONCENTRATION:
                out.append(
                    f"c({name}) reaches {cmax:.3g} mol/m^3, above {SANE_MAX_CONCENTRATION:g} "
                    "mol/m^3 (100 mol/L): unphysical; check the electrode kinetics (transfer "
                    "coefficients, potentials), the temperature (K) and the boundary values"
                )
            if not cmin > 0:
                out.append(f"c({name}) underflows to 0 mol/m^3 (ln c below -745)")
        if self._electrodes:
            lo, hi = self.domain.bounding_box()
            extent = float(np.max(hi - lo))
            for boundary, (kin, _) in self._electrodes.items():
                density = self.electrode_current(boundary) / self.domain.measure(boundary)
                limit = kin.electrons * FARADAY * self.diffusion_scale
                limit *= SANE_MAX_CONCENTRATION / extent
                if not abs(density) <= 100 * limit:
                    out.append(
                        f"electrode current density on {boundary!r} is {density:.3g} A/m^2, "
                        f"over 100x the diffusion limit n F D c_max / L = {limit:.3g} A/m^2 "
                        f"(D = {self.diffusion_scale:.3g} m^2/s, c_max = "
                        f"{SANE_MAX_CONCENTRATION:g} mol/m^3, L = {extent:.3g} m): unphysical"
                    )
        for msg in out:
            log.warning("NernstPlanckProblem: %s", msg)
        return out

    # ------------------------------------------------------------------ results
    def concentration(self, species: str) -> fem.Function:
        """c_i (mol/m³) as a Lagrange function (a new copy)."""
        i = self._species_index(species)
        f = fem.Function(self._Q, name=species)
        f.x.array[:] = self.reference_concentrations[i] * np.exp(self.w.x.array[self._maps[i]])
        return f

    def potential(self) -> fem.Function:
        """φ (V) as a Lagrange function (a new copy); zero if there is no field."""
        f = fem.Function(self._Q, name="phi")
        if self.solves_poisson:
            f.x.array[:] = self.thermal_voltage * self.w.x.array[self._maps[-1]]
        elif self._phi_fn is not None:
            f.x.array[:] = self.thermal_voltage * self._phi_fn.x.array
        return f

    def _indicator(self, boundary: str) -> np.ndarray:
        """Owned Q dofs on ``boundary`` (dofs of remote facets included)."""
        if boundary not in self._indicator_cache:
            dofs = fem.locate_dofs_topological(
                self._Q, self._tdim - 1, self.domain.facets(boundary)
            )
            n_own = self._Q.dofmap.index_map.size_local
            self._indicator_cache[boundary] = np.asarray(dofs[dofs < n_own], dtype=np.int32)
        return self._indicator_cache[boundary]

    def _residual(self) -> np.ndarray:
        b = fem.assemble_vector(self._problem.F)
        b.scatter_reverse(la.InsertMode.add)
        return b.array

    def _scalar(self, key, form_ufl) -> float:
        if key not in self._scalar_forms:
            self._scalar_forms[key] = fem.form(form_ufl)
        return float(self.comm.allreduce(fem.assemble_scalar(self._scalar_forms[key]), op=MPI.SUM))

    def _boundary_integral_hat(self, field_index: int, boundary: str, key, sign: float) -> float:
        """∫_Γ (outward flux or wall charge) dŝ, dimensionless, the same on all ranks.

        Where the field has a Dirichlet condition on Γ the flux is the one that balances the
        discrete equations (consistent boundary flux): with R the residual of the field and
        v_Γ the nodal indicator of Γ, Green's formula gives ∫_Γ J·n = −R(v_Γ) for a
        Nernst–Planck equation and ∫_Γ λ̂² ε̂ ∂φ̂/∂n = R(v_Γ) for Poisson's (all natural
        terms of other boundaries are part of R and cancel). Elsewhere the flux is the natural
        term of Γ itself (prescribed flux, Butler–Volmer, surface charge; zero if none).
        Nodes shared by two Dirichlet boundaries count for both.
        """
        self._check_boundary(boundary)
        if not self._built:
            raise ValueError("solve() or run() first")
        if field_index < len(self.species):
            dirichlet = (field_index, boundary) in self._conc_bc
        else:
            dirichlet = boundary in self._pot_bc
        if not dirichlet:
            if key in self._flux_forms:
                return self._scalar(key, self._flux_forms[key])
            return 0.0
        b = self._residual()
        dofs = self._indicator(boundary)
        local = sign * float(np.sum(b[self._maps[field_index][dofs]]))
        return float(self.comm.allreduce(local, op=MPI.SUM))

    def flux(self, species: str, boundary: str) -> float:
        """Outward flux of ``species`` through ``boundary``, ∫_Γ J·n ds (SI; same on all ranks).

        Units: mol s⁻¹ in 3D, mol m⁻¹ s⁻¹ (per metre of depth) in 2D, mol m⁻² s⁻¹ in 1D.
        Where the species has a Dirichlet condition on ``boundary`` the flux is computed from
        the residual (the flux that balances the discrete equations), which conserves mass
        exactly and converges faster than differentiating the solution; elsewhere it is the
        prescribed (natural) flux: set_flux, Butler–Volmer, or zero.
        """
        i = self._species_index(species)
        val = self._boundary_integral_hat(i, boundary, (i, boundary), -1.0)
        d = self._tdim
        scale = self.reference_concentrations[i] * self.diffusion_scale / self.length_scale
        return val * scale * self.length_scale ** (d - 1)

    def amount(self, species: str) -> float:
        """Total amount of ``species`` in the domain, ∫ c dx (SI; same on all ranks).

        mol in 3D, mol/m in 2D, mol/m² in 1D; integrated with the solver's own quadrature, so
        that its change over a time step equals the net boundary inflow to round-off.
        """
        i = self._species_index(species)
        self._build()
        key = ("amount", i)
        if key not in self._scalar_forms:
            k = self.degree
            dx = ufl.Measure(
                "dx", domain=self.domain.mesh, metadata={"quadrature_degree": 2 * k + 1}
            )
            self._scalar_forms[key] = fem.form(ufl.exp(self._components(self.w)[i]) * dx)
        local = fem.assemble_scalar(self._scalar_forms[key])
        return float(self.comm.allreduce(local, op=MPI.SUM)) * self.reference_concentrations[i]

    def flux_density(self, species: str, boundary: str) -> float:
        """Mean outward flux density of ``species`` on ``boundary`` (mol m⁻² s⁻¹)."""
        return self.flux(species, boundary) / self.domain.measure(boundary)

    def current(self, boundary: str) -> float:
        """Ionic current out of the solution through ``boundary``, F Σ z_i ∫ J_i·n ds (SI).

        A in 3D, A/m in 2D, A/m² in 1D. At an electrode it is minus the anodic current.
        """
        return FARADAY * sum(
            z * self.flux(s, boundary)
            for s, z in zip(self.names, self.charges, strict=True)
            if z != 0
        )

    def electrode_current(self, boundary: str) -> float:
        """Anodic Butler–Volmer current of the electrode on ``boundary`` (SI units of
        :meth:`current`)."""
        if boundary not in self._electrodes:
            raise ValueError(
                f"{boundary!r} has no electrode; electrodes: {sorted(self._electrodes)}"
            )
        self._build()
        kin, _, _, form, p = self._electrode_data[boundary]
        jhat = self._scalar(("bv", boundary), form)
        d = self._tdim
        scale = self.reference_concentrations[p] * self.diffusion_scale / self.length_scale
        return jhat * scale * self.length_scale ** (d - 1) * kin.electrons * FARADAY

    def surface_charge(self, boundary: str) -> float:
        """Charge on the wall ``boundary``, ∮ ε0 ε_r ∂φ/∂n ds (SI; C, C/m in 2D, C/m² in 1D).

        Minus the charge of the adjacent diffuse layer (Gauss's law), from the residual of
        Poisson's equation.
        """
        if not self.solves_poisson:
            raise ValueError("surface_charge needs potential='poisson'")
        val = self._boundary_integral_hat(self.n_fields - 1, boundary, ("charge", boundary), 1.0)
        return val * FARADAY * self._c0 * self.length_scale**self._tdim

    # ------------------------------------------------------------------ output
    def _update_output(self) -> list[fem.Function]:
        if self._out is None:
            self._out = [fem.Function(self._Q, name=n) for n in [*self.names, "phi"]]
        for i, f in enumerate(self._out[:-1]):
            f.x.array[:] = self.reference_concentrations[i] * np.exp(self.w.x.array[self._maps[i]])
        self._out[-1].x.array[:] = self.potential().x.array
        return self._out

    def _open_vtx(self, path: Path):
        from dolfinx.io import VTXWriter

        return VTXWriter(self.comm, str(path), self._update_output(), engine="BP4")

    def write(self, path: str | Path) -> Path:
        """Write c_i (mol/m³) and φ (V) to a VTX file (``.bp``, ParaView), collectively."""
        path = Path(path)
        if path.suffix != ".bp":
            raise ValueError(f"VTX output needs a .bp file name, got {path.name}")
        if self.comm.rank == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.comm.barrier()
        writer = self._open_vtx(path)
        writer.write(self.time)
        writer.close()
        return path

    def sample_1d(self) -> dict[str, np.ndarray]:
        """Nodal values of a 1D solution, gathered on every rank and sorted by x.

        Returns a dict with ``"x"`` (m), one entry per species (mol/m³) and ``"phi"`` (V).
        """
        if self._tdim != 1:
            raise ValueError("sample_1d is for 1D meshes; use write() for 2D/3D")
        n_own = self._Q.dofmap.index_map.size_local
        x = self._Q.tabulate_dof_coordinates()[:n_own, 0]
        cols = [x] + [f.x.array[:n_own] for f in self._update_output()]
        local = np.column_stack(cols)
        data = np.concatenate([a for a in self.comm.allgather(local) if a.size])
        data = data[np.argsort(data[:, 0], kind="stable")]
        out = {"x": data[:, 0]}
        for k, n in enumerate([*self.names, "phi"], start=1):
            out[n] = data[:, k]
        return out

    def plot_1d(self, path: str | Path | None = None, *, log: bool = True):
        """Plot concentrations and potential of a 1D solution (collective; drawn on rank 0).

        Parameters
        ----------
        path : path, optional
            Image file to write (rank 0).
        log : bool
            Logarithmic concentration axis.

        Returns
        -------
        matplotlib.figure.Figure or None
            The figure on rank 0, None elsewhere.
        """
        data = self.sample_1d()
        if self.comm.rank != 0:
            return None
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(6, 6))
        x_nm = data["x"] * 1e9
        for n in self.names:
            ax1.plot(x_nm, data[n] / 1000, label=n)
        if log:
            ax1.set_yscale("log")
        ax1.set_ylabel("c (mol/L)")
        ax1.legend()
        ax2.plot(x_nm, data["phi"] * 1000, color="k")
        ax2.set_ylabel("φ (mV)")
        ax2.set_xlabel("x (nm)")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig
