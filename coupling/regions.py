"""Adaptive QM/ML regions: per-atom weights and the carving of a capped, non-periodic QM cluster.

Distances are minimum-image distances (any cell shape, via :func:`ase.geometry.get_distances`)
from the nearest core atom. With a switching function ``s`` (see :mod:`coupling.switching`)
an atom at distance ``d`` from the core gets the weight

.. math::

    w(d) = \\begin{cases} 1 & d \\le r_\\mathrm{core} \\\\
    s\\big((d - r_\\mathrm{core}) / r_\\mathrm{switch}\\big) & r_\\mathrm{core} < d <
    r_\\mathrm{core} + r_\\mathrm{switch} \\\\ 0 & \\text{otherwise.} \\end{cases}

The QM cluster is every atom with ``w > 0`` plus a buffer of atoms with
``d < r_core + r_switch + r_buffer`` (their QM forces are computed but discarded). With
``molecules=True`` the distance of a molecule is that of its atom closest to the core and all its
atoms share it, so molecules are never cut. Covalent bonds that the cluster boundary does cut
(``molecules=False``) are capped by link hydrogens.

The two steps, :meth:`Regions.update` (weights and labels) and :meth:`Regions.carve` (a cluster
for any set of indices), are separate so that other schemes (e.g. adaptive partitioning,
several clusters per step) can reuse them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.data import covalent_radii
from ase.geometry import get_distances
from ase.neighborlist import neighbor_list

from .switching import SwitchingFunction, get_switching

__all__ = ["BUFFER", "CORE", "ML", "SHELL", "QMCluster", "RegionState", "Regions"]

#: Region labels in :attr:`RegionState.labels`.
CORE, SHELL, BUFFER, ML = 0, 1, 2, 3

#: Elements treated as free ions by the automatic molecule detection (never bonded).
IONIC_ELEMENTS = frozenset({3, 11, 19, 37, 55, 4, 12, 20, 38, 56})  # Li..Cs, Be..Ba

CoreSpec = Sequence[int] | np.ndarray | Callable[[Atoms], Sequence[int]]


@dataclass
class RegionState:
    """The regions of one configuration, as computed by :meth:`Regions.update`.

    Attributes
    ----------
    weights : numpy.ndarray
        QM weight ``w_i`` in [0, 1] of every atom (dimensionless).
    distances : numpy.ndarray
        Distance (Å) of every atom (of its molecule, if molecules are kept whole) from the
        nearest core atom, minimum image.
    labels : numpy.ndarray
        :data:`CORE` (w = 1), :data:`SHELL` (0 < w < 1), :data:`BUFFER` or :data:`ML`.
    core : numpy.ndarray
        Indices of the core atoms given by the user (or by the callable).
    cluster : numpy.ndarray
        Indices of the QM cluster (all ``w > 0`` plus the buffer), sorted.
    molecule_ids : numpy.ndarray
        Molecule label of every atom (each atom its own when molecules are not kept whole).
    n_links : int
        Number of covalent bonds the cluster boundary cuts, i.e. of link hydrogens
        :meth:`Regions.carve` will add.
    """

    weights: np.ndarray
    distances: np.ndarray
    labels: np.ndarray
    core: np.ndarray
    cluster: np.ndarray
    molecule_ids: np.ndarray
    n_links: int = 0

    @property
    def cluster_size(self) -> int:
        """Number of atoms of the QM cluster, link hydrogens included."""
        return len(self.cluster) + self.n_links

    @property
    def n_core(self) -> int:
        """Number of atoms with weight 1."""
        return int(np.count_nonzero(self.labels == CORE))

    @property
    def n_shell(self) -> int:
        """Number of atoms with 0 < weight < 1."""
        return int(np.count_nonzero(self.labels == SHELL))

    @property
    def n_buffer(self) -> int:
        """Number of buffer atoms (in the QM cluster, QM forces discarded)."""
        return int(np.count_nonzero(self.labels == BUFFER))


@dataclass
class QMCluster:
    """A non-periodic QM cluster carved from a (possibly periodic) system.

    Attributes
    ----------
    atoms : ase.Atoms
        The cluster, ``pbc=False``: first the system atoms ``indices`` (unwrapped to the
        minimum image around the anchor), then the link hydrogens.
    indices : numpy.ndarray
        Indices into the full system of the first ``len(indices)`` cluster atoms.
    link_pairs : numpy.ndarray
        ``(n_link, 2)`` pairs ``(inside, outside)`` of system indices of every cut bond.
    link_fractions : numpy.ndarray
        ``g`` of every link atom: ``r_L = r_in + g (r_out - r_in)`` (dimensionless).
    shift : numpy.ndarray
        ``(len(indices), 3)`` vectors (Å) with ``cluster position = system position + shift``.
    """

    atoms: Atoms
    indices: np.ndarray
    link_pairs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), dtype=int))
    link_fractions: np.ndarray = field(default_factory=lambda: np.zeros(0))
    shift: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    @property
    def n_links(self) -> int:
        """Number of link (capping) hydrogens."""
        return len(self.link_fractions)

    def scatter_forces(self, cluster_forces: np.ndarray, n_atoms: int) -> np.ndarray:
        """Map forces on the cluster atoms (eV/Å) to the full system, redistributing links.

        A link atom at ``r_L = (1 - g) r_in + g r_out`` passes ``(1 - g) F_L`` to the inside
        atom and ``g F_L`` to the outside atom (chain rule), so the result is the gradient of
        the cluster energy with respect to the system positions.

        Parameters
        ----------
        cluster_forces : numpy.ndarray
            ``(len(atoms), 3)`` forces in eV/Å on the cluster atoms, links last.
        n_atoms : int
            Number of atoms of the full system.

        Returns
        -------
        numpy.ndarray
            ``(n_atoms, 3)`` forces (eV/Å), zero on atoms that play no part in the cluster.
        """
        cluster_forces = np.asarray(cluster_forces, dtype=float)
        if cluster_forces.shape != (len(self.atoms), 3):
            raise ValueError(
                f"cluster_forces must have shape {(len(self.atoms), 3)}, got {cluster_forces.shape}"
            )
        out = np.zeros((n_atoms, 3))
        n = len(self.indices)
        out[self.indices] += cluster_forces[:n]
        for (i_in, i_out), g, f in zip(
            self.link_pairs, self.link_fractions, cluster_forces[n:], strict=True
        ):
            out[i_in] += (1.0 - g) * f
            out[i_out] += g * f
        return out


def _number(name: str, value, unit: str) -> float:
    """``float(value)`` or a :class:`TypeError` that names the argument."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a number ({unit}), got {value!r}")
    return float(value)


def _count(name: str, value, minimum: int) -> int:
    """``int(value)`` for a whole number >= ``minimum``, else a clear error."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    if not np.isfinite(value) or value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(value)


def _molecule_ids(atoms: Atoms, bond_scale: float) -> np.ndarray:
    """Connected components of the covalent-radius bond graph (alkali/alkaline-earth free)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(atoms)
    radii = covalent_radii[atoms.numbers] * bond_scale
    radii = np.where(np.isin(atoms.numbers, list(IONIC_ELEMENTS)), 0.0, radii)
    i, j = neighbor_list("ij", atoms, radii)
    _, labels = connected_components(coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n)))
    return labels


def _bonds(atoms: Atoms, bond_scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    radii = covalent_radii[atoms.numbers] * bond_scale
    radii = np.where(np.isin(atoms.numbers, list(IONIC_ELEMENTS)), 0.0, radii)
    return neighbor_list("ijD", atoms, radii)


class Regions:
    """Core, switching shell, buffer and ML regions, recomputed for every configuration.

    Parameters
    ----------
    core : sequence of int or callable
        Indices of the core atoms, or a callable ``core(atoms) -> indices`` evaluated at every
        update (to follow a reactive site or a diffusing ion).
    r_core : float
        Radius (Å) around the core atoms within which atoms get weight 1.
    r_switch : float
        Width (Å) of the switching shell, where the weight falls from 1 to 0. Must be > 0.
    r_buffer : float
        Width (Å) of the buffer beyond the shell: atoms in the QM cluster whose QM forces
        are discarded (default 0).
    molecules : bool or array of int
        ``True`` (default): whole molecules (connected components of the covalent-radius bond
        graph; Li–Cs and Be–Ba treated as free ions) share one weight, that of their atom
        closest to the core, and are never cut. ``False``: every heavy atom with its bonded
        hydrogens forms a unit; bonds between units may be cut and are capped with link
        hydrogens. An integer array gives the molecule of every atom.
    hysteresis : float
        Extra distance (Å) an atom that is already in the QM cluster may move beyond
        ``r_core + r_switch + r_buffer`` before it leaves the cluster (default 0). It only
        affects cluster membership (buffer atoms), never the weights, which stay smooth.
    switching : str or SwitchingFunction
        Switching function of the shell (default ``"quintic"``). :class:`ForceMixingCalculator`
        replaces it by its own ``switching`` argument.
    max_cluster_size : int
        Largest allowed QM cluster (atoms, links included); a larger one raises
        :class:`ValueError` (a runaway region). Default 250.
    bond_scale : float
        Covalent radii are multiplied by this factor to detect bonds (default 1.2,
        dimensionless).
    link_scale : float, optional
        Fixed fraction ``g`` placing a link hydrogen at ``r_in + g (r_out - r_in)`` on a cut
        bond X–Y. Default: ``g = (R_X + R_H) / (R_X + R_Y)`` from covalent radii (0.70 for
        C–C, so the C–H cap is 1.08 Å when the C–C bond is 1.54 Å). Being constant, ``g``
        makes the force redistribution the exact chain rule.
    min_distance : float
        Two atoms closer than this (Å) are reported as overlapping (default 0.5).
    """

    def __init__(
        self,
        core: CoreSpec,
        r_core: float,
        r_switch: float,
        r_buffer: float = 0.0,
        *,
        molecules: bool | Sequence[int] | np.ndarray = True,
        hysteresis: float = 0.0,
        switching: str | SwitchingFunction = "quintic",
        max_cluster_size: int = 250,
        bond_scale: float = 1.2,
        link_scale: float | None = None,
        min_distance: float = 0.5,
    ) -> None:
        for name, value in (
            ("r_core", r_core),
            ("r_switch", r_switch),
            ("r_buffer", r_buffer),
            ("hysteresis", hysteresis),
            ("min_distance", min_distance),
        ):
            value = _number(name, value, "Å")
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite distance >= 0 Å, got {value!r}")
        if r_switch <= 0:
            raise ValueError(
                f"r_switch must be > 0 Å (a zero-width shell is an abrupt switch), got {r_switch}"
            )
        max_cluster_size = _count("max_cluster_size", max_cluster_size, 1)
        bond_scale = _number("bond_scale", bond_scale, "dimensionless")
        if not np.isfinite(bond_scale) or bond_scale <= 0:
            raise ValueError(f"bond_scale must be a finite factor > 0 (e.g. 1.2), got {bond_scale}")
        if not callable(core):
            core = self._check_core(core, None)
        self.core = core
        self.r_core = float(r_core)
        self.r_switch = float(r_switch)
        self.r_buffer = float(r_buffer)
        self.hysteresis = float(hysteresis)
        self.switching = get_switching(switching)
        self.max_cluster_size = int(max_cluster_size)
        self.bond_scale = float(bond_scale)
        if link_scale is not None and not 0 < _number("link_scale", link_scale, "fraction") < 1:
            raise ValueError(f"link_scale must be in (0, 1), got {link_scale}")
        self.link_scale = link_scale
        self.min_distance = float(min_distance)
        if isinstance(molecules, bool | np.bool_):
            self.molecules: bool | np.ndarray = bool(molecules)
        else:
            labels = np.asarray(molecules) if not isinstance(molecules, str) else None
            if (
                labels is None
                or labels.ndim != 1
                or labels.size == 0
                or not np.issubdtype(labels.dtype, np.integer)
            ):
                raise TypeError(
                    "molecules must be True, False or one integer label per atom, got "
                    f"{molecules!r}"
                )
            if labels.min() < 0:
                raise ValueError(f"molecules labels must be >= 0, got {int(labels.min())}")
            self.molecules = labels.astype(int)
        self._previous_cluster: np.ndarray | None = None
        self.state: RegionState | None = None  #: the last computed :class:`RegionState`

    @property
    def r_outer(self) -> float:
        """Outer radius (Å) of the QM cluster: ``r_core + r_switch + r_buffer``."""
        return self.r_core + self.r_switch + self.r_buffer

    # ------------------------------------------------------------------ validation
    @staticmethod
    def _check_core(core, n_atoms: int | None) -> np.ndarray:
        if isinstance(core, int | np.integer) and not isinstance(core, bool):
            core = [core]  # one atom
        try:
            idx = np.asarray(core)
        except Exception as err:  # pragma: no cover - exotic input
            raise TypeError(f"core must be atom indices, got {core!r}") from err
        if idx.size and np.issubdtype(idx.dtype, np.floating):
            raise TypeError(
                f"core must be integer atom indices, got {core!r}: regions are centred on "
                "atoms; to follow a point, pass a callable core(atoms) that returns the index "
                "of the atom nearest to it"
            )
        if idx.size == 0:
            raise ValueError(
                "the core is empty: give at least one atom index (or a callable that returns "
                "a non-empty list)"
            )
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"core must be a 1D sequence of integer atom indices, got {core!r}")
        if len(np.unique(idx)) != len(idx):
            raise ValueError(f"core contains repeated indices: {idx.tolist()}")
        if idx.min() < 0:
            raise ValueError(f"core indices must be >= 0 (no negative indices), got {idx.tolist()}")
        if n_atoms is not None and idx.max() >= n_atoms:
            raise ValueError(
                f"core indices {idx.tolist()} out of range for a system of {n_atoms} atoms"
            )
        return idx.astype(int)

    def _check_atoms(self, atoms: Atoms) -> None:
        if not isinstance(atoms, Atoms):
            raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
        if len(atoms) == 0:
            raise ValueError("Regions got an empty Atoms object")
        if not np.all(np.isfinite(atoms.positions)):
            bad = np.flatnonzero(~np.all(np.isfinite(atoms.positions), axis=1))
            raise ValueError(
                f"atoms {bad[:10].tolist()} have non-finite positions (NaN or inf): the "
                "structure is broken (an exploded MD step?); fix it before computing regions"
            )
        lengths = atoms.cell.lengths()
        periodic = np.flatnonzero(atoms.pbc)
        if len(periodic) and (
            np.any(lengths[periodic] == 0) or (len(periodic) == 3 and atoms.cell.rank < 3)
        ):
            raise ValueError(
                f"atoms are periodic along axes {periodic.tolist()} but the cell {lengths} Å "
                "is degenerate there: set a cell (atoms.cell = ...) or pbc=False"
            )
        if self.min_distance > 0 and len(atoms) > 1:
            i, j, d = neighbor_list("ijd", atoms, self.min_distance / 2)
            if len(i):
                k = int(np.argmin(d))
                raise ValueError(
                    f"atoms {i[k]} and {j[k]} are {d[k]:.3f} Å apart (minimum image): "
                    "overlapping atoms; check the structure"
                )

    def molecule_ids(self, atoms: Atoms) -> np.ndarray:
        """Return the molecule label of every atom (see ``molecules``)."""
        if self.molecules is True:
            return _molecule_ids(atoms, self.bond_scale)
        if self.molecules is False:
            # bonds to hydrogen are never cut: each H goes with the heavy atom it is bonded to
            labels = np.arange(len(atoms))
            i, j, _ = _bonds(atoms, self.bond_scale)
            h_to_heavy = (atoms.numbers[i] == 1) & (atoms.numbers[j] != 1)
            labels[i[h_to_heavy]] = j[h_to_heavy]
            return labels
        if len(self.molecules) != len(atoms):
            raise ValueError(f"molecules has {len(self.molecules)} labels for {len(atoms)} atoms")
        return self.molecules

    # ------------------------------------------------------------------ regions
    def core_indices(self, atoms: Atoms) -> np.ndarray:
        """Return the core indices for ``atoms`` (calling ``core`` if it is a callable)."""
        core = self.core(atoms) if callable(self.core) else self.core
        return self._check_core(core, len(atoms))

    def distances(self, atoms: Atoms, core: np.ndarray) -> np.ndarray:
        """Minimum-image distance (Å) of every atom from its nearest core atom."""
        if atoms.pbc.any():
            _, d = get_distances(
                atoms.positions[core], atoms.positions, cell=atoms.cell, pbc=atoms.pbc
            )
        else:
            _, d = get_distances(atoms.positions[core], atoms.positions)
        return d.min(axis=0)

    def weights(self, distances: np.ndarray, switching: SwitchingFunction | None = None):
        """Weights ``w(d)`` (dimensionless) for distances ``d`` (Å) from the core."""
        s = switching or self.switching
        d = np.asarray(distances, dtype=float)
        if not np.all(np.isfinite(d)):
            raise ValueError("distances must be finite (Å); got NaN or inf")
        return s((d - self.r_core) / self.r_switch)

    def update(self, atoms: Atoms, switching: str | SwitchingFunction | None = None) -> RegionState:
        """Compute the weights, labels and QM cluster indices of ``atoms``.

        Parameters
        ----------
        atoms : ase.Atoms
            The full system (Å), periodic or not.
        switching : str or SwitchingFunction, optional
            Overrides the switching function given at construction.

        Returns
        -------
        RegionState
            Also stored as :attr:`state`.

        Raises
        ------
        ValueError
            Empty system, non-finite positions, a degenerate periodic cell, overlapping atoms,
            empty or invalid core, or a cluster larger than ``max_cluster_size`` (atoms plus
            the link hydrogens of cut bonds).
        TypeError
            ``atoms`` is not an :class:`ase.Atoms`.
        """
        self._check_atoms(atoms)
        s = get_switching(switching) if switching is not None else self.switching
        core = self.core_indices(atoms)
        mol = self.molecule_ids(atoms)
        d_atom = self.distances(atoms, core)
        # molecule distance = distance of its atom closest to the core
        d_mol = np.full(mol.max() + 1, np.inf)
        np.minimum.at(d_mol, mol, d_atom)
        d = d_mol[mol]
        w = self.weights(d, s)
        w[core] = 1.0
        d[core] = 0.0
        in_cluster = (w > 0) | (d < self.r_outer)
        if self._previous_cluster is not None and self.hysteresis > 0:
            prev = np.zeros(len(atoms), dtype=bool)
            prev[self._previous_cluster[self._previous_cluster < len(atoms)]] = True
            in_cluster |= prev & (d < self.r_outer + self.hysteresis)
        labels = np.full(len(atoms), ML)
        labels[in_cluster] = BUFFER
        labels[(w > 0) & (w < 1)] = SHELL
        labels[w >= 1] = CORE
        cluster = np.flatnonzero(in_cluster)
        n_links = 0
        if self.molecules is not True:  # whole bonded molecules are never cut
            bi, bj, _ = _bonds(atoms, self.bond_scale)
            n_links = int(np.count_nonzero(in_cluster[bi] & ~in_cluster[bj]))
        self._check_size(len(cluster), n_links)
        self._previous_cluster = cluster
        self.state = RegionState(w, d, labels, core, cluster, mol, n_links)
        return self.state

    def _check_size(self, n_atoms: int, n_links: int) -> None:
        if n_atoms + n_links > self.max_cluster_size:
            links = f" ({n_atoms} atoms + {n_links} link hydrogens)" if n_links else ""
            raise ValueError(
                f"the QM cluster has {n_atoms + n_links} atoms{links}, more than "
                f"max_cluster_size={self.max_cluster_size} (a runaway region?); reduce "
                "r_core/r_switch/r_buffer or raise max_cluster_size"
            )

    @staticmethod
    def _check_cell(atoms: Atoms, extent: float) -> None:
        """The cluster (radius ``extent`` around its anchor) must not meet its periodic image."""
        cell = atoms.cell
        volume = abs(np.linalg.det(cell.array))
        widths = [
            volume / np.linalg.norm(np.cross(cell[(k + 1) % 3], cell[(k + 2) % 3]))
            for k in range(3)
            if atoms.pbc[k]
        ]
        if 2 * extent >= min(widths):
            raise ValueError(
                f"the QM cluster reaches {extent:.2f} Å from its anchor but the periodic cell is "
                f"only {min(widths):.2f} Å wide: the cluster would meet its own image; use a "
                "larger cell or smaller radii"
            )

    def reset(self) -> None:
        """Forget the previous cluster (hysteresis memory)."""
        self._previous_cluster = None
        self.state = None

    # ------------------------------------------------------------------ carving
    def carve(
        self, atoms: Atoms, indices: Sequence[int] | np.ndarray, anchor: int | None = None
    ) -> QMCluster:
        """Cut the atoms ``indices`` out of ``atoms`` as a non-periodic, capped cluster.

        Each molecule is unwrapped around its atom nearest to ``anchor`` (default: the first
        core atom of the last update, else ``indices[0]``), which is placed at its minimum
        image relative to ``anchor``. Covalent bonds from a cluster atom to an atom outside
        are capped with a hydrogen at ``r_in + g (r_out - r_in)`` (see ``link_scale``).

        Parameters
        ----------
        atoms : ase.Atoms
            The full system (Å).
        indices : sequence of int
            System indices of the cluster atoms.
        anchor : int, optional
            System index around which the cluster is unwrapped.

        Returns
        -------
        QMCluster

        Raises
        ------
        ValueError
            Empty or out-of-range ``indices`` or ``anchor``, a periodic cell too small for
            the cluster, or a cluster (links included) larger than ``max_cluster_size``.
        """
        if not isinstance(atoms, Atoms):
            raise TypeError(f"atoms must be an ase.Atoms, got {type(atoms).__name__}")
        idx = np.asarray(indices)
        if idx.size == 0:
            raise ValueError("cannot carve an empty cluster: indices is empty")
        if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(
                f"indices must be a 1D sequence of integer atom indices, got {indices!r}"
            )
        if idx.min() < 0 or idx.max() >= len(atoms):
            raise ValueError(
                f"indices {idx.tolist()} out of range for a system of {len(atoms)} atoms"
            )
        idx = np.unique(idx.astype(int))
        if anchor is None:
            anchor = int(self.state.core[0]) if self.state is not None else int(idx[0])
        if (
            isinstance(anchor, bool)
            or not isinstance(anchor, int | np.integer)
            or not 0 <= anchor < len(atoms)
        ):
            raise ValueError(
                f"anchor must be the index of an atom of the {len(atoms)}-atom system, "
                f"got {anchor!r}"
            )
        anchor = int(anchor)
        pos0 = atoms.positions
        periodic = atoms.pbc.any()
        cell = atoms.cell if periodic else None
        if periodic:
            vec, _ = get_distances(pos0[anchor], pos0[idx], cell=cell, pbc=atoms.pbc)
            first = pos0[anchor] + vec[0]
        else:
            first = pos0[idx].copy()
        mol = self.state.molecule_ids if self.state is not None else self.molecule_ids(atoms)
        if len(mol) != len(atoms):
            mol = self.molecule_ids(atoms)
        pos = first.copy()
        if periodic:
            # keep every molecule whole: unwrap around its atom nearest to the anchor
            dist = np.linalg.norm(first - pos0[anchor], axis=1)
            for m in np.unique(mol[idx]):
                sel = np.flatnonzero(mol[idx] == m)
                if len(sel) == 1:
                    continue
                a = sel[np.argmin(dist[sel])]
                rel, _ = get_distances(pos0[idx[a]], pos0[idx[sel]], cell=cell, pbc=atoms.pbc)
                pos[sel] = first[a] + rel[0]
            self._check_cell(atoms, float(np.linalg.norm(pos - pos0[anchor], axis=1).max()))
        numbers = list(atoms.numbers[idx])
        positions = list(pos)
        # link atoms for covalent bonds cut by the cluster boundary
        inside = np.zeros(len(atoms), dtype=bool)
        inside[idx] = True
        bi, bj, bD = _bonds(atoms, self.bond_scale)
        cut = inside[bi] & ~inside[bj]
        local = {int(k): n for n, k in enumerate(idx)}
        pairs, fractions = [], []
        for i_in, i_out, vec in zip(bi[cut], bj[cut], bD[cut], strict=True):
            if self.link_scale is not None:
                g = self.link_scale
            else:
                r_x = covalent_radii[atoms.numbers[i_in]]
                g = float((r_x + covalent_radii[1]) / (r_x + covalent_radii[atoms.numbers[i_out]]))
            numbers.append(1)
            positions.append(pos[local[int(i_in)]] + g * vec)
            pairs.append((int(i_in), int(i_out)))
            fractions.append(g)
        self._check_size(len(idx), len(pairs))
        cluster_atoms = Atoms(numbers=numbers, positions=np.array(positions), pbc=False)
        return QMCluster(
            atoms=cluster_atoms,
            indices=idx,
            link_pairs=np.array(pairs, dtype=int).reshape(-1, 2),
            link_fractions=np.array(fractions, dtype=float),
            shift=pos - pos0[idx],
        )
