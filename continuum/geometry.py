"""Meshes with named boundaries for the Nernst–Planck solver (DOLFINx built-in meshes).

Coordinates are SI (metres). A :class:`Domain` is a DOLFINx mesh plus facet tags and a
name for each tag; boundary conditions refer to the names. The builders make 1D intervals,
2D rectangles, 3D boxes (optionally graded towards a wall, where the double layer sits) and
a 2D corrosion pit. Any other DOLFINx mesh (e.g. from gmsh through ``dolfinx.io.gmsh``) can
be wrapped with :meth:`Domain.from_markers` or :meth:`Domain.from_mesh`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import dolfinx_solver  # noqa: F401  (must precede dolfinx: provides PETSc/MPI)
import numpy as np
from dolfinx import mesh as dmesh

__all__ = [
    "Domain",
    "box",
    "corrosion_pit",
    "distance_to_boundary",
    "graded_points",
    "interval",
    "rectangle",
]


@dataclass
class Domain:
    """A mesh in SI coordinates (m) with named boundary parts.

    Parameters
    ----------
    mesh : dolfinx.mesh.Mesh
        The mesh; coordinates in metres.
    facet_tags : dolfinx.mesh.MeshTags
        Tags on (exterior) facets.
    boundaries : dict of str to int
        Boundary name → tag value in ``facet_tags``.
    """

    mesh: dmesh.Mesh
    facet_tags: dmesh.MeshTags
    boundaries: dict[str, int]

    def __post_init__(self) -> None:
        tdim = self.mesh.topology.dim
        if self.facet_tags.dim != tdim - 1:
            raise ValueError(
                f"facet_tags must tag facets (dim {tdim - 1}), got dim {self.facet_tags.dim}"
            )
        if len(set(self.boundaries.values())) != len(self.boundaries):
            raise ValueError(f"boundary tags must be distinct, got {self.boundaries}")
        self.mesh.topology.create_connectivity(tdim - 1, tdim)

    @property
    def comm(self):
        """The mesh communicator (mpi4py)."""
        return self.mesh.comm

    @property
    def dim(self) -> int:
        """Topological dimension (1, 2 or 3)."""
        return self.mesh.topology.dim

    def tag(self, name: str) -> int:
        """Tag value of the boundary ``name``."""
        try:
            return self.boundaries[name]
        except KeyError:
            raise ValueError(
                f"unknown boundary {name!r}; this domain has {sorted(self.boundaries)}"
            ) from None

    def facets(self, name: str) -> np.ndarray:
        """Local indices of the facets of boundary ``name`` on this rank."""
        return self.facet_tags.find(self.tag(name))

    def measure(self, name: str) -> float:
        """Size of boundary ``name`` (m^(d−1); 1 for a point in 1D), same on every rank."""
        import ufl
        from dolfinx import fem

        ds = ufl.Measure("ds", domain=self.mesh, subdomain_data=self.facet_tags)
        one = fem.Constant(self.mesh, 1.0)
        local = fem.assemble_scalar(fem.form(one * ds(self.tag(name))))
        return float(self.comm.allreduce(local))

    def bounding_box(self) -> tuple[np.ndarray, np.ndarray]:
        """Global lower and upper corners (m), same on every rank."""
        from mpi4py import MPI

        x = self.mesh.geometry.x
        lo = np.full(3, np.inf) if x.shape[0] == 0 else x.min(axis=0)
        hi = np.full(3, -np.inf) if x.shape[0] == 0 else x.max(axis=0)
        glo, ghi = np.empty(3), np.empty(3)
        self.comm.Allreduce(np.ascontiguousarray(lo, dtype=float), glo, op=MPI.MIN)
        self.comm.Allreduce(np.ascontiguousarray(hi, dtype=float), ghi, op=MPI.MAX)
        return glo, ghi

    @classmethod
    def from_mesh(
        cls, mesh: dmesh.Mesh, facet_tags: dmesh.MeshTags, boundaries: Mapping[str, int]
    ) -> Domain:
        """Wrap a mesh and facet tags you already have (e.g. from gmsh)."""
        return cls(mesh, facet_tags, dict(boundaries))

    @classmethod
    def from_markers(
        cls, mesh: dmesh.Mesh, markers: Mapping[str, Callable[[np.ndarray], np.ndarray]]
    ) -> Domain:
        """Tag the exterior facets of ``mesh`` with geometric markers.

        Parameters
        ----------
        mesh : dolfinx.mesh.Mesh
            Mesh in metres.
        markers : dict of str to callable
            Boundary name → ``marker(x)`` returning a boolean per point (``x`` has shape
            (3, n), m), evaluated at facet midpoints. Earlier names win on overlaps.
        """
        tdim = mesh.topology.dim
        mesh.topology.create_connectivity(tdim - 1, tdim)
        facets = dmesh.exterior_facet_indices(mesh.topology)
        mid = dmesh.compute_midpoints(mesh, tdim - 1, facets).T
        values = np.zeros(facets.size, dtype=np.int32)
        names = {}
        for k, (name, marker) in enumerate(markers.items(), start=1):
            hit = np.asarray(marker(mid), dtype=bool) & (values == 0)
            values[hit] = k
            names[name] = k
        keep = values > 0
        order = np.argsort(facets[keep])
        tags = dmesh.meshtags(mesh, tdim - 1, facets[keep][order], values[keep][order])
        return cls(mesh, tags, names)


def graded_points(
    a: float, b: float, n: int, refine: str | None = None, grading: float = 1.0
) -> np.ndarray:
    """n + 1 points from ``a`` to ``b`` (m), clustered towards an end by a power law.

    Parameters
    ----------
    a, b : float
        End points (m).
    n : int
        Number of intervals.
    refine : {None, "start", "end", "both"}
        Where to cluster the points.
    grading : float
        Exponent p ≥ 1 of the map t ↦ t^p (1: uniform). The first interval is (b−a)/n^p.
    """
    for name, v in (("a", a), ("b", b)):
        if not np.isfinite(v):
            raise ValueError(f"{name} must be a finite coordinate (m), got {v}")
    n = _cell_count("n", n)
    if not (np.isfinite(grading) and grading >= 1):
        raise ValueError(f"grading must be a finite number >= 1 (1 = uniform), got {grading}")
    t = np.linspace(0.0, 1.0, n + 1)
    if refine == "start":
        t = t**grading
    elif refine == "end":
        t = 1 - (1 - t) ** grading
    elif refine == "both":
        s = 2 * t - 1
        t = 0.5 * (1 + np.sign(s) * (1 - (1 - np.abs(s)) ** grading))
    elif refine is not None:
        raise ValueError(f"refine must be None, 'start', 'end' or 'both', got {refine!r}")
    return a + (b - a) * t


def _cell_count(name: str, n) -> int:
    """``n`` as a positive int; ValueError naming ``name`` otherwise."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer | float | np.floating):
        raise TypeError(f"{name} must be a whole number of cells, got {type(n).__name__}")
    if not (np.isfinite(n) and int(n) == n and n >= 1):
        raise ValueError(f"{name} must be a whole number of cells >= 1, got {n}")
    return int(n)


def _finite_sequence(name: str, values, count: int, positive: bool, unit: str = "m") -> np.ndarray:
    """``values`` as ``count`` finite floats (> 0 if ``positive``); ValueError naming ``name``."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be {count} numbers ({unit}), got {values!r}") from None
    if arr.shape != (count,):
        raise ValueError(f"{name} must have {count} entries ({unit}), got {values!r}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite ({unit}), got {values!r}")
    if positive and not np.all(arr > 0):
        raise ValueError(f"{name} must be > 0 ({unit}), got {values!r}")
    return arr


def _check_comm(comm) -> None:
    from mpi4py import MPI

    if not isinstance(comm, MPI.Comm):
        raise TypeError(f"comm must be an mpi4py communicator, got {type(comm).__name__}")


def _map_axis(msh: dmesh.Mesh, axis: int, uniform_end: float, points: np.ndarray) -> None:
    """Move nodes of a uniform built-in mesh along ``axis`` onto the graded ``points``."""
    x = msh.geometry.x
    u = np.linspace(0.0, uniform_end, points.size)
    x[:, axis] = np.interp(x[:, axis], u, points)


def interval(
    comm,
    length: float | None = None,
    n: int | None = None,
    *,
    vertices: Sequence[float] | None = None,
    origin: float = 0.0,
    refine: str | None = None,
    grading: float = 1.0,
) -> Domain:
    """1D mesh on [origin, origin + length] (m) with boundaries ``"left"`` and ``"right"``.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        Communicator.
    length : float
        Length (m).
    n : int
        Number of cells.
    vertices : sequence of float, optional
        Explicit, increasing vertex coordinates (m) instead of ``length``/``n`` (e.g. to put
        nodes on the steps of a coefficient).
    origin : float
        Left end (m).
    refine, grading
        Clustering of the vertices, see :func:`graded_points` (``"start"`` = left).
    """
    _check_comm(comm)
    if vertices is None:
        if length is None or n is None:
            raise ValueError("give length (m) and n (cells), or vertices (m)")
        length = float(_finite_sequence("length", [length], 1, positive=True)[0])
        origin = float(_finite_sequence("origin", [origin], 1, positive=False)[0])
        pts = graded_points(origin, origin + length, _cell_count("n", n), refine, grading)
    else:
        pts = np.asarray(vertices, dtype=float)
        if pts.ndim != 1 or pts.size < 2 or np.any(np.diff(pts) <= 0):
            raise ValueError("vertices must be a strictly increasing 1D array of >= 2 points (m)")
        if not np.all(np.isfinite(pts)):
            raise ValueError("vertices must be finite (m)")
    ncell = pts.size - 1
    msh = dmesh.create_interval(comm, ncell, [0.0, float(ncell)])
    _map_axis(msh, 0, float(ncell), pts)
    lo, hi = pts[0], pts[-1]
    tol = 1e-9 * (hi - lo)
    return Domain.from_markers(
        msh,
        {"left": lambda x: np.abs(x[0] - lo) < tol, "right": lambda x: np.abs(x[0] - hi) < tol},
    )


def rectangle(
    comm,
    size: Sequence[float],
    n: Sequence[int],
    *,
    origin: Sequence[float] = (0.0, 0.0),
    refine: Sequence[str | None] = (None, None),
    grading: Sequence[float] = (1.0, 1.0),
    quadrilateral: bool = False,
) -> Domain:
    """2D rectangle (m) with boundaries ``"left"``, ``"right"``, ``"bottom"``, ``"top"``.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        Communicator.
    size : (float, float)
        Side lengths (m).
    n : (int, int)
        Cells along x and y.
    origin : (float, float)
        Lower-left corner (m).
    refine, grading : per axis
        Clustering, see :func:`graded_points`.
    quadrilateral : bool
        Quadrilateral cells instead of triangles.
    """
    _check_comm(comm)
    size = _finite_sequence("size", size, 2, positive=True)
    origin = _finite_sequence("origin", origin, 2, positive=False)
    if len(n) != 2:
        raise ValueError(f"n must be two cell counts, got {n}")
    n = [_cell_count("n", k) for k in n]
    cell = dmesh.CellType.quadrilateral if quadrilateral else dmesh.CellType.triangle
    msh = dmesh.create_rectangle(comm, [[0, 0], [n[0], n[1]]], [int(n[0]), int(n[1])], cell)
    names = (("left", "right"), ("bottom", "top"))
    return _graded_tensor_domain(msh, size, n, origin, refine, grading, names)


def box(
    comm,
    size: Sequence[float],
    n: Sequence[int],
    *,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    refine: Sequence[str | None] = (None, None, None),
    grading: Sequence[float] = (1.0, 1.0, 1.0),
    hexahedral: bool = False,
) -> Domain:
    """3D box (m) with boundaries ``"left"``/``"right"`` (x), ``"front"``/``"back"`` (y),
    ``"bottom"``/``"top"`` (z).

    Parameters as in :func:`rectangle`, with three entries each.
    """
    _check_comm(comm)
    size = _finite_sequence("size", size, 3, positive=True)
    origin = _finite_sequence("origin", origin, 3, positive=False)
    if len(n) != 3:
        raise ValueError(f"n must be three cell counts, got {n}")
    n = [_cell_count("n", k) for k in n]
    cell = dmesh.CellType.hexahedron if hexahedral else dmesh.CellType.tetrahedron
    msh = dmesh.create_box(comm, [[0, 0, 0], [n[0], n[1], n[2]]], [int(k) for k in n], cell)
    names = (("left", "right"), ("front", "back"), ("bottom", "top"))
    return _graded_tensor_domain(msh, size, n, origin, refine, grading, names)


def _graded_tensor_domain(msh, size, n, origin, refine, grading, names) -> Domain:
    """Map the unit-spaced index mesh of :func:`rectangle`/:func:`box` onto graded points in
    ``[origin, origin + size]`` (m) and mark the low/high face of every axis with ``names``."""
    lo = np.asarray(origin, float)
    hi = lo + np.asarray(size, float)
    for ax in range(len(names)):
        _map_axis(
            msh, ax, n[ax], graded_points(lo[ax], hi[ax], int(n[ax]), refine[ax], grading[ax])
        )
    tol = 1e-9 * max(size)
    markers = {}
    for ax, (low, high) in enumerate(names):
        markers[low] = lambda x, a=ax: np.abs(x[a] - lo[a]) < tol
        markers[high] = lambda x, a=ax: np.abs(x[a] - hi[a]) < tol
    return Domain.from_markers(msh, markers)


def corrosion_pit(
    comm,
    *,
    pit_width: float,
    pit_depth: float,
    width: float,
    height: float,
    cells_across_pit: int = 16,
    grading: float = 2.0,
) -> Domain:
    """2D pit in a metal surface with the solution above it (half domain, m).

    The pit axis is the line x = 0 (a symmetry plane). The solution fills the pit
    0 ≤ x ≤ pit_width/2, −pit_depth ≤ y ≤ 0, and the layer 0 ≤ x ≤ width, 0 ≤ y ≤ height
    above the surface. Boundaries: ``"metal"`` (pit walls and bottom, where the metal
    dissolves), ``"surface"`` (the passive metal surface around the pit, y = 0),
    ``"bulk"`` (y = height, the bulk solution), ``"axis"`` (x = 0) and ``"side"``
    (x = width). Cells are clustered towards the metal with a power-law ``grading``.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        Communicator.
    pit_width, pit_depth : float
        Full width and depth of the pit (m).
    width : float
        Half-width of the domain from the pit axis (m), > pit_width/2.
    height : float
        Height of the solution above the surface (m).
    cells_across_pit : int
        Cells across the half-width of the pit; the other directions get as many cells
        as keep the cells roughly square.
    grading : float
        Clustering exponent (1 = uniform), see :func:`graded_points`.
    """
    _check_comm(comm)
    for name, v in (
        ("pit_width", pit_width),
        ("pit_depth", pit_depth),
        ("width", width),
        ("height", height),
    ):
        if not (np.isfinite(v) and v > 0):
            raise ValueError(f"{name} must be > 0 (m), got {v}")
    half = pit_width / 2
    if width <= half:
        raise ValueError(f"width ({width} m) must exceed pit_width/2 ({half} m)")
    n1 = int(cells_across_pit)
    if n1 < 2:
        raise ValueError(f"cells_across_pit must be >= 2, got {cells_across_pit}")
    h = half / n1

    def count(length):
        return max(2, int(np.ceil(length / h / grading**0.5)))

    n2, m1, m2 = count(width - half), count(pit_depth), count(height)
    # refine towards the pit wall from both sides, the pit bottom and the surface y = 0
    xs = np.concatenate(
        [
            graded_points(0.0, half, n1, "end", grading),
            graded_points(half, width, n2, "start", grading)[1:],
        ]
    )
    ys = np.concatenate(
        [
            graded_points(-pit_depth, 0.0, m1, "both", grading),
            graded_points(0.0, height, m2, "start", grading)[1:],
        ]
    )
    nx, ny = xs.size - 1, ys.size - 1
    parent = dmesh.create_rectangle(comm, [[0, 0], [nx, ny]], [nx, ny], dmesh.CellType.triangle)
    _map_axis(parent, 0, nx, xs)
    _map_axis(parent, 1, ny, ys)
    tdim = 2
    # keep the cells whose midpoint is in the solution (the metal is x > half, y < 0)
    ncells = parent.topology.index_map(tdim).size_local
    all_cells = np.arange(ncells, dtype=np.int32)
    mid = dmesh.compute_midpoints(parent, tdim, all_cells)
    cells = all_cells[(mid[:, 1] > 0) | (mid[:, 0] < half)]
    msh = dmesh.create_submesh(parent, tdim, cells)[0]
    tol = 1e-9 * max(width, height + pit_depth)
    return Domain.from_markers(
        msh,
        {
            "metal": lambda x: (
                ((np.abs(x[0] - half) < tol) & (x[1] < tol)) | (np.abs(x[1] + pit_depth) < tol)
            ),
            "surface": lambda x: (np.abs(x[1]) < tol) & (x[0] > half - tol),
            "bulk": lambda x: np.abs(x[1] - height) < tol,
            "axis": lambda x: np.abs(x[0]) < tol,
            "side": lambda x: np.abs(x[0] - width) < tol,
        },
    )


# ---------------------------------------------------------------------- distances
def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.einsum("...i,...i->...", p - a, ab) / np.maximum(
        np.einsum("...i,...i->...", ab, ab), 1e-300
    )
    t = np.clip(t, 0.0, 1.0)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1)


def _triangle_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    # inside the prism over the triangle: distance to the plane; otherwise to the nearest edge
    e0, e1 = b - a, c - a
    n = np.cross(e0, e1)
    nn = np.maximum(np.einsum("...i,...i->...", n, n), 1e-300)
    w = p - a
    s = np.einsum("...i,...i->...", np.cross(w, e1), n) / nn
    t = np.einsum("...i,...i->...", np.cross(e0, w), n) / nn
    inside = (s >= 0) & (t >= 0) & (s + t <= 1)
    plane = np.abs(np.einsum("...i,...i->...", w, n)) / np.sqrt(nn)
    edges = np.minimum(
        np.minimum(_segment_distance(p, a, b), _segment_distance(p, b, c)),
        _segment_distance(p, c, a),
    )
    return np.where(inside, plane, edges)


def distance_to_boundary(domain: Domain, boundary: str) -> Callable[[np.ndarray], np.ndarray]:
    """Exact Euclidean distance (m) to a named boundary, as a function of ``x``.

    The facets of the boundary are gathered from all ranks (collective call), so the
    returned function gives the same distance on every rank; candidates come from a
    k-d tree on facet centroids and the distance to each candidate segment (2D) or
    triangle (3D) is exact. Written by hand because neither DOLFINx (rank-local closest
    entity) nor SciPy offers a global point-to-facet distance.

    Parameters
    ----------
    domain : Domain
        The domain.
    boundary : str
        Boundary name, e.g. ``"metal"``.

    Returns
    -------
    callable
        ``distance(x)`` with ``x`` of shape (3, n) (m) → n distances (m), usable in
        :func:`continuum.profile_coefficient`.
    """
    from scipy.spatial import cKDTree

    tag = domain.tag(boundary)
    msh = domain.mesh
    fdim = domain.dim - 1
    facets = domain.facet_tags.find(tag)
    if fdim == 0:
        nodes = dmesh.entities_to_geometry(msh, 0, facets)
    else:
        nodes = dmesh.entities_to_geometry(msh, fdim, facets)
    nodes = np.asarray(nodes).reshape(len(facets), fdim + 1 if len(facets) == 0 else -1)
    local = msh.geometry.x[nodes][:, : fdim + 1]  # (facets, vertices, 3)
    gathered = [a for a in domain.comm.allgather(local) if a.size]
    if not gathered:
        raise ValueError(f"boundary {boundary!r} has no facets")
    simplices = np.unique(np.concatenate(gathered), axis=0)
    centroids = simplices.mean(axis=1)
    tree = cKDTree(centroids)
    k = min(16, len(simplices))

    def distance(x: np.ndarray) -> np.ndarray:
        pts = np.asarray(x, dtype=float).T[:, :3]
        if fdim == 0:
            return tree.query(pts)[0]
        _, idx = tree.query(pts, k=k)
        idx = idx.reshape(len(pts), k)
        p = pts[:, None, :]
        s = simplices[idx]
        if fdim == 1:
            d = _segment_distance(p, s[..., 0, :], s[..., 1, :])
        else:
            d = _triangle_distance(p, s[..., 0, :], s[..., 1, :], s[..., 2, :])
        return d.min(axis=1)

    return distance
