"""The Nernst–Planck term: diffusion (scalar or tensor D), drift in φ and in F_i(x).

Dimensionless weak form of ∂c_i/∂t + ∇·J_i = s_i for the unknown u_i = ln(c_i/c_i^ref),

    J_i = −D_i c_i ∇μ_i,     μ_i = u_i + z_i φ̂ + F_i/RT,

so that ∫ [ (c − c_old)/Δt v + c (D ∇μ)·∇v ] dx̂ − ∫ s v dx̂ + ∫ J·n v dŝ = 0. D is a number, a
scalar field or a symmetric tensor field; for an interface with surface normal n the
tensor is D⊥ n⊗n + D∥ (I − n⊗n) (:func:`diffusion_tensor`). These functions only build UFL
expressions; :class:`~continuum.NernstPlanckProblem` supplies the scaled coefficients.
"""

from __future__ import annotations

import ufl

__all__ = ["diffusion_tensor", "electrochemical_potential", "nernst_planck_residual"]


def electrochemical_potential(u, charge_const, phi_hat, mu_excess):
    """μ̂_i = u_i + z_i φ̂ + F_i/RT (dimensionless, in units of RT).

    Parameters
    ----------
    u : UFL expression
        ln(c_i / c_i^ref).
    charge_const : UFL expression or None
        z_i (None or a zero charge: no drift in φ).
    phi_hat : UFL expression or None
        φ/V_T (None: no field).
    mu_excess : UFL expression or None
        F_i/RT (None: no excess chemical potential).
    """
    mu = u
    if phi_hat is not None and charge_const is not None:
        mu = mu + charge_const * phi_hat
    if mu_excess is not None:
        mu = mu + mu_excess
    return mu


def diffusion_tensor(d_perp, d_parallel, normal):
    """D = D⊥ n⊗n + D∥ (I − n⊗n): diffusion across (along ``normal``) and along a surface.

    Parameters
    ----------
    d_perp, d_parallel : UFL expressions
        D⊥ and D∥ (scaled, dimensionless).
    normal : UFL vector expression
        Unit surface normal n(x).
    """
    dim = ufl.shape(normal)[0]
    nn = ufl.outer(normal, normal)
    return d_perp * nn + d_parallel * (ufl.Identity(dim) - nn)


def nernst_planck_residual(u, u_old, v, mu, diffusion, inv_dt, grad, vol, dx):
    """Volume part of the dimensionless Nernst–Planck residual of one species.

    Parameters
    ----------
    u, u_old : UFL expressions
        ln(c/c_ref) now and at the previous time level.
    v : UFL test function component.
    mu : UFL expression
        μ̂ of :func:`electrochemical_potential`.
    diffusion : UFL expression
        D/D_ref: scalar, or a rank-2 tensor (:func:`diffusion_tensor`).
    inv_dt : fem.Constant
        1/Δt̂ (0 for a steady state).
    grad : callable
        The dimensionless gradient ∇̂ = L ∇.
    vol : UFL expression
        L^{-d} (dx̂ = dx / L^d).
    dx : ufl.Measure
        The volume measure.
    """
    c, c_old = ufl.exp(u), ufl.exp(u_old)
    gmu = grad(mu)
    flux = ufl.dot(diffusion, gmu) if len(ufl.shape(diffusion)) == 2 else diffusion * gmu
    return (inv_dt * (c - c_old) * v + c * ufl.inner(flux, grad(v))) * vol * dx
