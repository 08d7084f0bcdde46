"""A liquid centre of mass moving by the slit's k = 0 mode (shared by the slab finite-size
tests): exact Gaussian samples of the theory's velocity autocorrelation, ρ = 1050 kg/m³,
T = 400 K."""

from __future__ import annotations

import numpy as np
from ase.units import _k as K_B

from multiscale.extract.slab_hydrodynamics import slit_modes

H = 21e-10  # m
A = 10.2e-10 * 13.3e-10  # m²


def synthetic_com(n_frames, frame_fs, sub, eta, rng, b=0.0, height=H, area=A):
    """A liquid centre of mass (Å, x and y) moving by the slit's k = 0 mode: a Gaussian
    process with the theory's velocity autocorrelation (circulant embedding, exact), sampled
    every ``sub`` fine steps."""
    q, sym, norm = slit_modes(height, b, 400)
    rho, T = 1050.0, 400.0
    tau = rho / (eta * q**2)
    c = np.where(sym, 2 * norm * np.sin(q * height / 2) / q, 0.0)
    dt = frame_fs / sub * 1e-15
    n = n_frames * sub
    s = np.arange(n) * dt
    acf = K_B * T / (rho * area * height**2) * (np.exp(-np.outer(s, 1 / tau)) @ c**2)  # m²/s²
    circ = np.concatenate([acf, acf[-2:0:-1]])
    lam = np.clip(np.fft.fft(circ).real, 0, None)
    noise = rng.standard_normal(circ.size) + 1j * rng.standard_normal(circ.size)
    v = np.fft.fft(np.sqrt(lam / circ.size) * noise)[:n]  # x, y: real and imaginary parts
    xy = np.cumsum(np.stack([v.real, v.imag], axis=1), axis=0) * dt * 1e10  # Å
    return xy[::sub]
