"""Newton/continuation driver of :class:`~continuum.NernstPlanckProblem`.

PETSc SNES (Newton with a line search) with a convergence test in natural units, the
default initial guess (Slotboom interpolation), the fallbacks tried when Newton fails
(:data:`FALLBACKS`, then continuation in the applied potentials). Time stepping is in
:mod:`continuum.timestepping`.
"""

from __future__ import annotations

import itertools
import logging
import time
import weakref

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem.petsc import NonlinearProblem
from mpi4py import MPI
from petsc4py import PETSc

from .results import ConvergenceError, SolveResult
from .validation import max_over as _max_over

__all__ = ["DEFAULT_PETSC_OPTIONS", "FALLBACKS", "SolverDriver"]

log = logging.getLogger("continuum")

_COUNTER = itertools.count()

#: What :meth:`NernstPlanckProblem.solve` tries after plain Newton (backtracking) fails,
#: before continuation in the applied potentials: (name, SNES options).
FALLBACKS: tuple[tuple[str, dict[str, object]], ...] = (
    ("l2 line search", {"snes_linesearch_type": "l2"}),
    # Deuflhard's affine-invariant damped Newton: rescues the cases where l2 stalls
    ("damped Newton (NLEQ-ERR)", {"snes_linesearch_type": "nleqerr"}),
)

#: SNES defaults: Newton with backtracking line search, direct LU (MUMPS).
DEFAULT_PETSC_OPTIONS: dict[str, object] = {
    "snes_type": "newtonls",
    "snes_linesearch_type": "bt",
    "snes_rtol": 1e-10,
    "snes_atol": 1e-10,
    # a line search that fails because the residual sits at its round-off floor ends as
    # CONVERGED_SNORM_RELATIVE when the full Newton update is below stol·‖x‖ (PETSc newtonls)
    "snes_stol": 1e-7,
    "snes_max_it": 50,
    "ksp_type": "preonly",
    "pc_type": "lu",
    "pc_factor_mat_solver_type": "mumps",
}

_REASONS = {
    getattr(PETSc.SNES.ConvergedReason, k): k
    for k in dir(PETSc.SNES.ConvergedReason)
    if not k.startswith("_") and isinstance(getattr(PETSc.SNES.ConvergedReason, k), int)
}


class SolverDriver:
    """Mixin of :class:`~continuum.NernstPlanckProblem`: nonlinear solves and time stepping."""

    def _make_solver(self) -> None:
        """The SNES of the assembled residual ``self._F_ufl`` with ``self._bcs``."""
        prefix = f"nernstplanck{next(_COUNTER)}_"
        self._problem = NonlinearProblem(
            self._F_ufl,
            self.w,
            bcs=self._bcs,
            petsc_options_prefix=prefix,
            petsc_options=self._petsc_options,
        )
        # through a weak reference: a bound method kept inside the PETSc SNES would be a
        # reference cycle that Python's collector cannot see, so no problem (and none of its
        # PETSc objects and MPI communicators) would ever be freed; MPICH runs out of
        # communicators after ~150 problems in one process
        self_ref = weakref.ref(self)

        def convergence_test(snes, it, norms):
            owner = self_ref()
            if owner is None:
                return PETSc.SNES.ConvergedReason.DIVERGED_FUNCTION_DOMAIN
            return owner._convergence_test(snes, it, norms)

        self._problem.solver.setConvergenceTest(convergence_test)

    # ------------------------------------------------------------------ load
    def _has_load(self) -> bool:
        return bool(self._bc_funcs) or bool(self._electrodes) or bool(self._stern_bc)

    def _set_load(self, s: float) -> None:
        """Scale the applied potentials: Dirichlet φ = s φ_D, Stern-layer metals E = s E,
        electrodes E = E_eq + s (E − E_eq)."""
        self._load = s
        for g, target in self._bc_funcs:
            g.x.array[:] = s * target
        for name, par in self._stern_data.items():
            par.value[1] = s * self._stern_bc[name][1] / self.thermal_voltage
        for kin, E, par, _, _ in self._electrode_data.values():
            par.value[0] = (
                kin.equilibrium_potential + s * (E - kin.equilibrium_potential)
            ) / self.thermal_voltage

    # ------------------------------------------------------------------ solving
    def _convergence_test(self, snes, it: int, norms) -> int:
        """Newton convergence on the size of the update, in natural units.

        The update is in ln c and φ/V_T (relative concentration and kT/e), so its RMS is a
        scale-free measure of the remaining error. PETSc's relative-residual test alone is
        not: near a strongly charged wall the exponentials make the residual span many
        decades, and the first residual can be so large that ``rtol`` is met while the
        far field is still wrong. Converged when the residual is below ``snes_atol``, or the
        RMS update is below 1e-9, or the residual fell by ``snes_rtol`` *and* the RMS update
        is below 1e-7 (quadratic convergence then leaves ~1e-14), or the residual stalls at
        its round-off floor (strongly charged walls: terms of size e^|u| cancel) with an
        RMS update below 1e-6.
        """
        _, ynorm, fnorm = norms
        reason = PETSc.SNES.ConvergedReason
        rtol, atol, _, max_it = snes.getTolerances()
        if not np.isfinite(fnorm):
            return reason.DIVERGED_FNORM_NAN
        if it == 0:
            self._fnorm0, self._fnorm_prev, self._last_rms = fnorm, fnorm, np.inf
        if fnorm <= atol:
            return reason.CONVERGED_FNORM_ABS
        if it > 0:
            self._last_rms = ynorm / np.sqrt(max(snes.getSolution().getSize(), 1))
            stalled = fnorm >= 0.5 * self._fnorm_prev  # at the round-off floor
            self._fnorm_prev = fnorm
            if self._last_rms <= 1e-9:
                return reason.CONVERGED_SNORM_RELATIVE
            if self._last_rms <= 1e-7 and fnorm <= rtol * self._fnorm0:
                return reason.CONVERGED_FNORM_RELATIVE
            if self._last_rms <= 1e-6 and stalled:
                return reason.CONVERGED_SNORM_RELATIVE
        if it >= max_it:
            return reason.DIVERGED_MAX_IT
        return reason.ITERATING

    def _newton(self) -> tuple[bool, int, str]:
        snes = self._problem.solver
        try:
            self._problem.solve()
        except PETSc.Error as err:
            # the factorisation failed inside the Newton step (MUMPS on a near-singular
            # Jacobian, e.g. a steep drift with a large step): a failed step like a diverged
            # one, so that the caller shortens the step; the failure is sticky in the solver
            snes.getKSP().reset()
            return False, snes.getIterationNumber(), f"LINEAR_SOLVER_ERROR({err.ierr})"
        reason = snes.getConvergedReason()
        its = snes.getIterationNumber()
        self.w.x.scatter_forward()
        name = _REASONS.get(reason, str(reason))
        if name == "DIVERGED_LINE_SEARCH" and self._last_rms <= 1e-6:
            # the residual sits at its round-off floor (strongly charged walls: terms of
            # size e^|u| cancel) and the last accepted update was already below 1e-6 in
            # ln c and kT/e: the state is converged to that accuracy
            reason, name = 1, "CONVERGED_ROUNDOFF"
        ok = reason > 0 and bool(np.all(np.isfinite(self.w.x.array)))
        ok = bool(self.comm.allreduce(int(ok), op=MPI.MIN))
        return ok, its, name

    def _set_linesearch(self, overrides: dict[str, object]) -> None:
        """Set the SNES line search to the user's/default options updated by ``overrides``
        (an empty dict restores them)."""
        ls = self._problem.solver.getLineSearch()
        prefix = ls.getOptionsPrefix() or ""
        opts = PETSc.Options()
        base: dict[str, object] = {"snes_linesearch_type": "bt", "snes_linesearch_damping": 1.0}
        base.update({k: v for k, v in self._petsc_options.items() if "linesearch" in k})
        base.update(overrides)
        for k, v in base.items():
            opts[prefix + k] = v
        ls.setFromOptions()
        for k in base:
            del opts[prefix + k]
        # a failed factorisation (e.g. MUMPS out of workspace on a near-singular Jacobian)
        # is sticky: start the next attempt with a fresh linear solver
        self._problem.solver.getKSP().reset()

    def _nodal_exponent(self, i: int) -> np.ndarray:
        """ψ_i = F_i/RT + z_i φ/V_T at the nodes (the current φ when Poisson is solved)."""
        psi = np.zeros(self.w.x.array[self._maps[i]].shape)
        if self._mu_fn[i] is not None:
            psi += self._mu_fn[i].x.array
        if self.charges[i] != 0:
            if self.solves_poisson:
                psi += self.charges[i] * self.w.x.array[self._maps[-1]]
            elif self._phi_fn is not None:
                psi += self.charges[i] * self._phi_fn.x.array
        return psi

    def _default_initial_guess(self) -> list[str]:
        """Make the untouched initial state of each species with Dirichlet conditions satisfy
        them: the Slotboom variable η = c e^ψ (ψ = F_i/RT + z_i φ/V_T) solves
        ∇·(D e^{−ψ} ∇η) = 0 between the Dirichlet values (zero flux elsewhere), which in 1D
        is the exact steady state of a lone species (η linear in ∫e^ψ/D dz) and elsewhere a
        guess that meets the Dirichlet conditions and lies between their values. Species
        given :meth:`set_initial` keep theirs. Returns the names of the species set."""
        from dolfinx.fem.petsc import LinearProblem

        conds: dict[int, list[tuple[str, fem.Function]]] = {}
        for i, name, g in self._conc_g:
            if i not in self._user_initial:
                conds.setdefault(i, []).append((name, g))
        done = []
        msh = self.domain.mesh
        fdim = self._tdim - 1
        dx = ufl.Measure("dx", domain=msh, metadata={"quadrature_degree": 2 * self.degree + 1})
        for i, items in conds.items():
            psi = self._nodal_exponent(i)
            hi = _max_over(self.comm, float(np.max(psi, initial=-np.inf)))
            lo = -_max_over(self.comm, float(np.max(-psi, initial=-np.inf)))
            if hi - lo > 600:  # e^{±ψ} would overflow: keep the present state
                log.info("initial guess of %s: ψ spans %.0f kT, kept as is", self.names[i], hi - lo)
                continue
            shifted = fem.Function(self._Q)
            shifted.x.array[:] = psi - hi  # <= 0: the weight e^{−ψ} stays >= 1
            D = self._D_fn[i] if self._D_fn[i] is not None else self._const(1.0)
            eta, v = ufl.TrialFunction(self._Q), ufl.TestFunction(self._Q)
            a = D * ufl.exp(-shifted) * ufl.inner(ufl.grad(eta), ufl.grad(v)) * dx
            rhs = self._const(0.0) * v * dx
            bcs, values = [], []
            for name, g in items:
                h = fem.Function(self._Q)
                h.x.array[:] = np.exp(g.x.array + shifted.x.array)
                dofs = fem.locate_dofs_topological(self._Q, fdim, self.domain.facets(name))
                bcs.append(fem.dirichletbc(h, dofs))
                values.append(h.x.array[dofs])
            local = np.concatenate(values)
            vmax = _max_over(self.comm, float(np.max(local, initial=-np.inf)))
            vmin = -_max_over(self.comm, float(np.max(-local, initial=-np.inf)))
            solver = LinearProblem(
                a,
                rhs,
                bcs=bcs,
                petsc_options_prefix=f"nernstplanck_guess{next(_COUNTER)}_",
                petsc_options={
                    "ksp_type": "preonly",
                    "pc_type": "lu",
                    "pc_factor_mat_solver_type": "mumps",
                },
            )
            sol = solver.solve()
            sol.x.scatter_forward()
            # the continuous problem obeys the maximum principle; clip the overshoot of
            # higher-degree elements so that the logarithm exists
            vals = np.clip(sol.x.array, vmin, vmax)
            u = np.log(vals) - shifted.x.array
            ok = int(vmin > 0 and bool(np.all(np.isfinite(u))))
            if self.comm.allreduce(ok, op=MPI.MIN):
                self.w.x.array[self._maps[i]] = u
                done.append(self.names[i])
            for obj in (solver.solver, solver.A, solver.b):
                obj.destroy()
        self.w.x.scatter_forward()
        return done

    def solve(
        self, *, continuation: bool = True, fallback: bool = True, min_step: float = 1e-3
    ) -> SolveResult:
        """Solve the steady state; return a :class:`SolveResult` (also set as attributes).

        The current state is the initial guess; on the first solve the species that were not
        given :meth:`set_initial` start from a state that satisfies their Dirichlet
        conditions (the Slotboom interpolation, see ``_default_initial_guess``). If Newton
        fails, the fallbacks of :data:`FALLBACKS` (an l2 line search, damped Newton) are
        tried from the same start, then, if there are applied potentials (Dirichlet φ,
        electrode potentials), continuation: they are ramped from the rest state
        (φ_D = 0, E = E_eq) to their values, halving the step on failure. Every fallback is
        logged (logger ``"continuum"``) and the one that converged is
        :attr:`SolveResult.strategy`.

        Parameters
        ----------
        continuation : bool
            Try continuation when the direct solve and the fallbacks fail.
        fallback : bool
            Try the other Newton variants of :data:`FALLBACKS` when the direct solve fails.
        min_step : float
            Smallest continuation step (fraction of the full load) before giving up.

        Raises
        ------
        ConvergenceError
            With the SNES reason of the direct solve and of every fallback, when all fail.
        """
        t0 = time.perf_counter()
        self._build()
        self._idt.value = 0.0
        if self._fresh:
            self._fresh = False
            guessed = self._default_initial_guess()
            if guessed:
                log.debug("initial guess: Slotboom interpolation for %s", guessed)
        start = self.w.x.array.copy()
        self._set_load(1.0)
        ok, its, reason = self._newton()
        total, steps, strategy = its, [], "newton"
        tried = [f"Newton ({reason} after {its} iterations)"]
        if not ok and fallback:
            for name, options in FALLBACKS:
                log.warning(
                    "NernstPlanckProblem: %s; retrying from the same start with %s",
                    tried[-1],
                    name,
                )
                self.w.x.array[:] = start
                self._set_linesearch(options)
                try:
                    ok, its, reason = self._newton()
                finally:
                    self._set_linesearch({})
                total += its
                tried.append(f"{name} ({reason} after {its} iterations)")
                if ok:
                    strategy = name
                    log.warning("NernstPlanckProblem: %s converged", name)
                    break
        if not ok:
            if not (continuation and self._has_load()):
                self.w.x.array[:] = start
                raise ConvergenceError(
                    f"Newton did not converge: {'; '.join(tried)}; refine the mesh near "
                    "walls, give a better initial guess (set_initial) or relax the applied "
                    "potentials",
                    reason,
                    its,
                )
            log.warning(
                "NernstPlanckProblem: %s; trying continuation in the applied potentials",
                "; ".join(tried),
            )
            strategy = "continuation"
            self.w.x.array[:] = start
            s, step = 0.0, 0.25
            self._set_load(0.0)
            ok, its, reason = self._newton()
            total += its
            steps.append((0.0, its))
            if not ok:
                self.w.x.array[:] = start
                raise ConvergenceError(
                    f"Newton did not converge even without applied potentials ({reason}); "
                    f"before that: {'; '.join(tried)}; check the boundary conditions and the "
                    "initial guess",
                    reason,
                    its,
                )
            while s < 1.0:
                trial = min(1.0, s + step)
                keep = self.w.x.array.copy()
                self._set_load(trial)
                ok, its, reason = self._newton()
                total += its
                if ok:
                    s = trial
                    steps.append((s, its))
                    if its <= 6:
                        step *= 2.0
                else:
                    self.w.x.array[:] = keep
                    step *= 0.5
                    if step < min_step:
                        self._set_load(s)
                        raise ConvergenceError(
                            f"continuation stalled at {s:.4g} of the applied potential "
                            f"({reason}); refine the mesh or lower the potentials",
                            reason,
                            its,
                        )
            log.info("NernstPlanckProblem: continuation converged in %d steps", len(steps))
        self.converged, self.iterations, self.reason = True, total, reason
        self._w_old.x.array[:] = self.w.x.array
        warnings = self._sanity_warnings()
        return SolveResult(True, total, reason, steps, time.perf_counter() - t0, strategy, warnings)
