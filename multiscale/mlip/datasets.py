"""Small water / NaCl clusters for labelling with the PySCF core, and CHGNet interface frames.

The clusters are built directly (no cheap force field is run): each water has thermally
distorted bond lengths and angle, molecules are placed at hydrogen-bond-like distances with
random orientations (rejection on short contacts), ions get a first shell of waters oriented
as in solution (O towards Na+, one H towards Cl-), and every configuration is rattled.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms

#: Cluster families of the default "water-nacl" data set: (name, ions, waters, count).
WATER_NACL_FAMILIES: tuple[tuple[str, tuple[str, ...], int, int], ...] = (
    ("w1", (), 1, 30),
    ("w2", (), 2, 40),
    ("w3", (), 3, 35),
    ("w4", (), 4, 25),
    ("na_w2", ("Na",), 2, 15),
    ("na_w3", ("Na",), 3, 15),
    ("na_w4", ("Na",), 4, 12),
    ("cl_w2", ("Cl",), 2, 15),
    ("cl_w3", ("Cl",), 3, 15),
    ("cl_w4", ("Cl",), 4, 12),
    ("nacl_w2", ("Na", "Cl"), 2, 20),
    ("nacl_w3", ("Na", "Cl"), 3, 18),
)

_ION_CHARGE = {"Na": 1, "Cl": -1}


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    a, b, c, d = q
    return np.array(
        [
            [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
            [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
            [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d],
        ]
    )


def _water(rng: np.random.Generator) -> np.ndarray:
    """O, H, H positions (Å) of a distorted water with O at the origin, in its own frame."""
    r1, r2 = rng.normal(0.975, 0.02, size=2)
    theta = np.deg2rad(rng.normal(104.5, 4.0))
    h1 = r1 * np.array([np.sin(theta / 2), np.cos(theta / 2), 0.0])
    h2 = r2 * np.array([-np.sin(theta / 2), np.cos(theta / 2), 0.0])
    return np.array([np.zeros(3), h1, h2])


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def _oriented_water(rng, site, direction, towards: str) -> np.ndarray:
    """A water whose O sits at ``site``; its dipole (bisector, O->H side) points away from
    the ion along ``direction`` ("O": O faces the ion) or one O-H points back at it ("H")."""
    w = _water(rng)
    if towards == "O":
        axis = w[1] + w[2]  # bisector, from O to the H side
        target = direction  # H side away from the ion
    else:
        axis = w[1]
        target = -direction  # H1 towards the ion
    axis = axis / np.linalg.norm(axis)
    # rotation taking axis -> target (Rodrigues), then a random spin about target
    v = np.cross(axis, target)
    c = float(np.dot(axis, target))
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    rot = np.eye(3) + vx + vx @ vx / (1.0 + c) if c > -0.999 else -np.eye(3)
    w = w @ rot.T
    phi = rng.uniform(0, 2 * np.pi)
    k = target
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    spin = np.eye(3) + np.sin(phi) * kx + (1 - np.cos(phi)) * kx @ kx
    w = w @ spin.T
    # tilt the orientation by a thermal-like random amount
    tilt = _random_rotation(rng)
    tilt = np.eye(3) + 0.25 * (tilt - np.eye(3))
    u, _, vt = np.linalg.svd(tilt)
    w = w @ (u @ vt).T
    return w + site


def _ok(new: np.ndarray, new_sym: list[str], old: np.ndarray, old_sym: list[str]) -> bool:
    if len(old) == 0:
        return True
    d = np.linalg.norm(new[:, None, :] - old[None, :, :], axis=2)
    for i, si in enumerate(new_sym):
        for j, sj in enumerate(old_sym):
            pair = {si, sj}
            if pair == {"H"}:
                lim = 1.45
            elif "H" in pair:
                lim = 1.55 if ("O" in pair or "Cl" in pair) else 1.9
            else:
                lim = 2.25 if "Na" in pair else 2.5
            if d[i, j] < lim:
                return False
    return True


def make_cluster(ions: tuple[str, ...], n_water: int, rng: np.random.Generator) -> Atoms:
    """One randomised cluster of ``ions`` (subset of Na, Cl) and ``n_water`` waters.

    Parameters
    ----------
    ions : tuple of str
        ``()``, ``("Na",)``, ``("Cl",)`` or ``("Na", "Cl")``.
    n_water : int
        Number of water molecules (≥ 1).
    rng : numpy.random.Generator
        Random source (the cluster is a deterministic function of its state).

    Returns
    -------
    ase.Atoms
        Non-periodic cluster, positions in Å, with ``info["charge"]`` (total charge, e).
    """
    for _ in range(1000):
        pos: list[np.ndarray] = []
        sym: list[str] = []
        if "Na" in ions:
            pos.append(np.zeros(3))
            sym.append("Na")
        if "Cl" in ions:
            d = rng.uniform(2.45, 3.6) if "Na" in ions else 0.0
            pos.append(np.array([d, 0.0, 0.0]))
            sym.append("Cl")
        positions = np.array(pos).reshape(-1, 3)
        ok = True
        for _w in range(n_water):
            placed = False
            for _try in range(200):
                if sym and sym[0] in ("Na", "Cl") and rng.random() < 0.8:
                    ion_i = int(rng.integers(0, len(ions)))
                    ion = sym[ion_i]
                    r = rng.uniform(2.2, 2.75) if ion == "Na" else rng.uniform(3.0, 3.5)
                    direction = _unit(rng)
                    site = positions[ion_i] + r * direction
                    w = _oriented_water(rng, site, direction, "O" if ion == "Na" else "H")
                elif len(sym) == 0:
                    w = _water(rng) @ _random_rotation(rng).T
                else:
                    heavy = [i for i, s in enumerate(sym) if s == "O"] or [0]
                    anchor = positions[int(rng.choice(heavy))]
                    site = anchor + rng.uniform(2.6, 3.3) * _unit(rng)
                    w = _water(rng) @ _random_rotation(rng).T + site
                if _ok(w, ["O", "H", "H"], positions, sym):
                    positions = np.vstack([positions, w])
                    sym += ["O", "H", "H"]
                    placed = True
                    break
            if not placed:
                ok = False
                break
        if ok:
            positions = positions + rng.normal(0.0, rng.uniform(0.005, 0.03), positions.shape)
            atoms = Atoms(sym, positions=positions - positions.mean(axis=0))
            atoms.info["charge"] = int(sum(_ION_CHARGE.get(s, 0) for s in sym))
            return atoms
    raise RuntimeError(f"could not place {n_water} waters around {ions}")


def water_nacl_clusters(seed: int = 0, scale: float = 1.0) -> list[Atoms]:
    """The configurations of the default "water-nacl" data set, in a fixed shuffled order.

    Parameters
    ----------
    seed : int
        Random seed; the list is a deterministic function of it.
    scale : float
        Multiplies every family's count (rounded, at least 1).

    Returns
    -------
    list of ase.Atoms
        Clusters with ``info["family"]``, ``info["charge"]`` and ``info["gen_seed"]``.
        The order is shuffled so that an interrupted labelling run covers all families.
    """
    rng = np.random.default_rng(seed)
    out = []
    for name, ions, n_water, count in WATER_NACL_FAMILIES:
        for _ in range(max(1, round(count * scale))):
            atoms = make_cluster(ions, n_water, rng)
            atoms.info["family"] = name
            atoms.info["gen_seed"] = seed
            out.append(atoms)
    order = rng.permutation(len(out))
    return [out[i] for i in order]
