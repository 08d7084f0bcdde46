"""Poisson's equation with a position-dependent permittivity, dimensionless.

−∇·(ε0 ε_r ∇φ) = F Σ z_i c_i + ρ_fixed becomes, with φ̂ = φ/V_T, ε̂ = ε_r/ε_ref,
ĉ_i = c_i/c_0 (c_0 = Σ z_i² c_i^ref) and x̂ = x/L,

    ∫ (λ_D/L)² ε̂ ∇̂φ̂·∇̂q dx̂ − ∫ ρ̂ q dx̂ − ∫ σ̂ q dŝ = 0,

where σ̂ is the wall charge of natural boundaries (surface charge, Stern layer, electrode).
ε̂ may be a scalar field (ε(z) from a profile) or a tensor field; for an interface with
surface normal n the tensor is ε⊥ n⊗n + ε∥ (I − n⊗n) (:func:`permittivity_tensor`).
"""

from __future__ import annotations

import ufl

from .nernst_planck import diffusion_tensor

__all__ = ["permittivity_tensor", "poisson_residual", "space_charge"]


def permittivity_tensor(eps_perp, eps_parallel, normal):
    """ε = ε⊥ n⊗n + ε∥ (I − n⊗n): permittivity across (along ``normal``) and along a surface.

    The uniaxial form of :func:`continuum.nernst_planck.diffusion_tensor`, applied to the
    permittivity (water at an interface polarises differently across and along it).

    Parameters
    ----------
    eps_perp, eps_parallel : UFL expressions
        ε⊥ and ε∥ (scaled by ε_ref, dimensionless).
    normal : UFL vector expression
        Unit surface normal n(x).
    """
    return diffusion_tensor(eps_perp, eps_parallel, normal)


def space_charge(u, charge_const, conc_ratio, rho_fixed=None):
    """ρ̂ = Σ z_i (c_i^ref/c_0) e^{u_i} + ρ_fixed/(F c_0) (dimensionless).

    Parameters
    ----------
    u : list of UFL expressions
        ln(c_i/c_i^ref) of the species.
    charge_const, conc_ratio : fem.Constant
        z_i and c_i^ref/c_0 as vector constants.
    rho_fixed : UFL expression, optional
        Scaled immobile charge.
    """
    rho = sum(charge_const[i] * conc_ratio[i] * ufl.exp(u[i]) for i in range(len(u)))
    if rho_fixed is not None:
        rho = rho + rho_fixed
    return rho


def poisson_residual(phi_hat, q, lam2, permittivity, rho, grad, vol, dx):
    """Volume part of the dimensionless Poisson residual.

    Parameters
    ----------
    phi_hat : UFL expression
        φ/V_T.
    q : UFL test function component.
    lam2 : fem.Constant
        (λ_D/L)², λ_D from the reference permittivity.
    permittivity : UFL expression or float
        ε_r/ε_ref: a number, a scalar field, or a rank-2 tensor field.
    rho : UFL expression
        ρ̂ of :func:`space_charge`.
    grad, vol, dx
        As in :func:`continuum.nernst_planck.nernst_planck_residual`.
    """
    e = grad(phi_hat)
    if len(ufl.shape(permittivity)) == 2:
        e = ufl.dot(permittivity, e)
    else:
        e = permittivity * e
    return (lam2 * ufl.inner(e, grad(q)) - rho * q) * vol * dx
