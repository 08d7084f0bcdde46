"""Bad input at the continuum API is refused before any solve, naming the argument and what
to do (issue #12, items 5/7): non-finite numbers, transfer coefficients that are not
Nernstian, temperatures that are not in kelvin, unreadable or invalid profile files.
Every case here was accepted, or refused with another message, before; the checks that
already existed are in test_continuum_errors.py and test_transport_profile.py."""

from __future__ import annotations

import dolfinx_solver  # noqa: F401
import numpy as np
import pytest
from mpi4py import MPI

from continuum import (
    ButlerVolmer,
    NernstPlanckProblem,
    Species,
    TransportProfile,
    box,
    graded_points,
    interval,
    rectangle,
)

COMM = MPI.COMM_SELF
NAN, INF = float("nan"), float("inf")


# ------------------------------------------------------------------ Butler–Volmer
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        # item 5/7: alpha_a = 5 with n = 2 gave 1e8-1e10 mol/m^3 without a word
        ({"alpha_anodic": 5.0, "alpha_cathodic": 1.0}, ValueError, r"= 6 but must equal electrons"),
        ({"alpha_anodic": 0.6, "alpha_cathodic": 0.4}, ValueError, r"zero-current potential Nerns"),
        ({"alpha_anodic": NAN, "alpha_cathodic": 1.0}, ValueError, r"alpha_anodic must be a fini"),
        ({"alpha_cathodic": "1"}, TypeError, r"alpha_cathodic must be a number"),
        ({"equilibrium_potential": NAN}, ValueError, r"equilibrium_potential must be a finite num"),
        ({"exchange_current_density": INF}, ValueError, r"exchange_current_density must be a fini"),
        ({"electrons": NAN}, ValueError, r"electrons must be a positive whole number"),
        ({"stern_capacitance": INF}, ValueError, r"stern_capacitance must be a finite number"),
        ({"species": ""}, TypeError, r"species must be the product's name"),
    ],
)  # fmt: skip
def test_butler_volmer_refuses(kwargs, error, match):
    args = {
        "species": "Fe2+",
        "electrons": 2,
        "exchange_current_density": 1e-2,
        "equilibrium_potential": -0.44,
    }
    args.update(kwargs)
    with pytest.raises(error, match=match):
        ButlerVolmer(**args)


def test_butler_volmer_defaults_and_opt_in():
    kin = ButlerVolmer("Fe2+", 2, 1e-2, -0.44)
    assert kin.alpha_anodic == kin.alpha_cathodic == 1.0  # n/2 each
    assert ButlerVolmer("Ag+", 1, 1.0, 0.8).alpha_anodic == 0.5
    odd = ButlerVolmer("Fe2+", 2, 1e-2, -0.44, 0.6, 0.4, allow_non_nernstian=True)
    assert odd.alpha_anodic + odd.alpha_cathodic == pytest.approx(1.0)


# ------------------------------------------------------------------ species
@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("A", 1, NAN, 1.0), r"diffusion of A must be a finite number \(m\^2/s\)"),
        (("A", 1, 1e-9, INF), r"concentration of A must be a finite number \(mol/m\^3\)"),
    ],
)
def test_species_refuses_non_finite(args, match):
    with pytest.raises(ValueError, match=match):
        Species(*args)


# ------------------------------------------------------------------ problem constructor
@pytest.fixture
def dom():
    return interval(COMM, 10e-9, 10)


@pytest.fixture
def salt():
    return [Species("Na+", 1, 1.33e-9, 100.0), Species("Cl-", -1, 2.03e-9, 100.0)]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        # item 5/7: temperature = 25 (°C meant) ran and reported 1.7e30 A/m^2
        ({"temperature": 25.0}, ValueError, r"25 K is outside 200-500 K: it is in kelvin \(25 °C"),
        ({"temperature": 1000.0}, ValueError, r"allow_any_temperature=True"),
        ({"temperature": NAN}, ValueError, r"temperature must be a finite number \(K\)"),
        ({"temperature": -5.0, "allow_any_temperature": True}, ValueError, r"must be > 0 K"),
        ({"temperature": "298"}, TypeError, r"temperature must be a number \(K\)"),
        ({"potential": NAN}, ValueError, r"potential must be a finite number \(V\)"),
        ({"permittivity": INF}, ValueError, r"permittivity must be > 0 and finite"),
        ({"length_scale": NAN}, ValueError, r"length_scale must be a finite number > 0 \(m\)"),
    ],
)  # fmt: skip
def test_problem_constructor_refuses(dom, salt, kwargs, error, match):
    with pytest.raises(error, match=match):
        NernstPlanckProblem(dom, salt, **kwargs)


def test_unusual_temperature_with_opt_in(dom, salt):
    p = NernstPlanckProblem(dom, salt, temperature=150.0, allow_any_temperature=True)
    assert p.temperature == 150.0


# ------------------------------------------------------------------ conditions
def _set(p: NernstPlanckProblem, what: str, value: float) -> None:
    if what == "set_concentration":
        p.set_concentration("Na+", "left", value)
    elif what == "set_flux":
        p.set_flux("Na+", "left", value)
    elif what == "set_potential":
        p.set_potential("left", value)
    elif what == "set_surface_charge":
        p.set_surface_charge("left", value)
    elif what == "add_electrode":
        p.add_electrode("left", ButlerVolmer("Na+", 1, 1.0, 0.0, stern_capacitance=0.2), value)


@pytest.mark.parametrize(
    ("what", "value", "match"),
    [
        # item 5/7: a NaN electrode potential surfaced as ConvergenceError
        ("add_electrode", NAN, r"electrode potential on 'left' must be a finite number \(V\)"),
        ("set_concentration", INF, r"concentration of Na\+ on 'left' must be a finite number"),
        ("set_flux", NAN, r"flux of Na\+ on 'left' must be a finite number"),
        ("set_potential", -INF, r"potential on 'left' must be a finite number \(V\)"),
        ("set_surface_charge", NAN, r"surface charge on 'left' must be a finite number"),
        ("set_concentration", "1", r"must be a number or a function of x \(mol/m\^3\)"),
    ],
)
def test_conditions_refuse_non_finite(dom, salt, what, value, match):
    p = NernstPlanckProblem(dom, salt)
    with pytest.raises((ValueError, TypeError), match=match):
        _set(p, what, value)


def test_updates_refuse_non_finite(dom, salt):
    p = NernstPlanckProblem(dom, salt)
    p.set_potential("right", 0.0)
    p.add_electrode("left", ButlerVolmer("Na+", 1, 1.0, 0.0, stern_capacitance=0.2), 0.05)
    with pytest.raises(ValueError, match=r"potential on 'right' must be a finite number"):
        p.update_potential("right", NAN)
    with pytest.raises(ValueError, match=r"electrode potential on 'left' must be a finite number"):
        p.update_electrode("left", INF)


# ------------------------------------------------------------------ meshes
@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        # item 5/7: an infinite interval length surfaced as ConvergenceError
        (lambda: interval(COMM, INF, 10), ValueError, r"length must be finite \(m\)"),
        (lambda: interval(COMM, 1e-9, 0), ValueError, r"n must be a whole number of cells >= 1"),
        (lambda: interval(COMM, 1e-9, 2.5), ValueError, r"n must be a whole number of cells"),
        (lambda: interval(COMM, 1e-9, 10, origin=NAN), ValueError, r"origin must be finite"),
        (lambda: interval(COMM, vertices=[0.0, 1e-9, INF]), ValueError, r"vertices must be finite"),
        (lambda: rectangle(COMM, [1e-6, NAN], [2, 2]), ValueError, r"size must be finite"),
        (lambda: rectangle(COMM, [1e-6, 1e-6], [2, 0]), ValueError, r"n must be a whole number"),
        (lambda: box(COMM, [1e-6, 1e-6, INF], [1, 1, 1]), ValueError, r"size must be finite"),
        (lambda: box(COMM, [1e-6] * 3, [1] * 3, origin=(0, NAN, 0)), ValueError, "origin must"),
        (lambda: graded_points(0.0, INF, 4), ValueError, r"b must be a finite coordinate"),
        (lambda: graded_points(0.0, 1.0, 4, "start", NAN), ValueError, r"grading must be a finite"),
    ],
)  # fmt: skip
def test_mesh_builders_refuse(build, error, match):
    with pytest.raises(error, match=match):
        build()


# ------------------------------------------------------------------ profile files
def _profile() -> TransportProfile:
    z = np.linspace(0.0, 2e-9, 11)
    return TransportProfile(
        z, ["Na+", "Cl-"], [1, -1], np.full((2, z.size), 100.0), np.full((2, z.size), 1e-9)
    )


def _edit(path, name: str, value) -> None:
    import h5py

    with h5py.File(path, "r+") as fh:
        del fh[name]
        if value is not None:
            fh[name] = value


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (("diffusion", None), r"lacks diffusion: a TransportProfile needs the datasets"),
        (("z", None), r"lacks z"),
        (("concentration", np.full((2, 11), np.nan)), r"concentration contains NaN"),
        (("z", np.linspace(2e-9, 0.0, 11)), r"z must be finite and strictly increasing"),
        (("diffusion", np.full((2, 11), -1e-9)), r"diffusion must be > 0"),
        (("diffusion", np.ones((3, 4))), r"diffusion must have shape \(2, 11\)"),
    ],
)
def test_invalid_profile_files_name_the_path(tmp_path, edit, match):
    path = _profile().write(tmp_path / "bad.h5")
    _edit(path, *edit)
    with pytest.raises(ValueError, match=match) as info:
        TransportProfile.read(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"z,c\n0,1\n", r"is not an HDF5 file; expected a TransportProfile HDF5 file"),
        (b"", r"is not an HDF5 file"),
        (b"\x89HDF\r\n\x1a\n truncated", r"could not be read as a TransportProfile HDF5 file"),
    ],
)
def test_non_hdf5_profile_names_the_path(tmp_path, content, match):
    """Before: h5py's OSError traceback without the path."""
    path = tmp_path / "profile.csv"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        TransportProfile.read(path)
    assert str(path) in str(info.value)


def test_profile_with_bad_provenance_names_the_path(tmp_path):
    import h5py

    path = _profile().write(tmp_path / "p.h5")
    with h5py.File(path, "r+") as fh:
        fh.attrs["provenance"] = "{not json"
    with pytest.raises(ValueError, match=r"p\.h5: the provenance attribute is not valid JSON"):
        TransportProfile.read(path)
