"""TransportProfile: validation, HDF5 round trip, interpolation."""

from __future__ import annotations

import numpy as np
import pytest

from continuum import TransportProfile


def _profile(**over):
    z = np.linspace(0, 2e-9, 21)
    kw = {
        "z": z,
        "species": ["Na+", "Cl-"],
        "charges": [1, -1],
        "concentration": np.vstack([1000 + 100 * np.sin(z * 1e9), 1000 - 50 * z * 1e9]),
        "diffusion": np.vstack([1.3e-9 * np.ones_like(z), 2.0e-9 * (1 + 0.1 * z * 1e9)]),
        "potential": 0.05 * np.tanh(z * 1e9),
        "concentration_err": np.full((2, z.size), 5.0),
        "temperature": 300.0,
        "provenance": {"source": "test", "n_frames": 10},
    }
    kw.update(over)
    return TransportProfile(**kw)


def test_hdf5_round_trip_preserves_everything(tmp_path):
    p = _profile()
    q = TransportProfile.read(p.write(tmp_path / "sub" / "profile.h5"))
    assert q.species == p.species and q.temperature == p.temperature
    assert q.provenance == p.provenance
    np.testing.assert_array_equal(q.charges, p.charges)
    for name in ("z", "concentration", "diffusion", "potential", "concentration_err"):
        np.testing.assert_array_equal(getattr(q, name), getattr(p, name))
    assert q.free_energy is None and q.diffusion_err is None
    import h5py

    with h5py.File(tmp_path / "sub" / "profile.h5") as fh:
        assert fh["diffusion"].attrs["units"] == "m^2/s"
        assert fh["z"].attrs["units"] == "m"


def test_interpolation_is_linear_and_holds_bulk_values_outside():
    p = _profile()
    z = np.array([-1e-9, 0.05e-9, 5e-9])
    d = p.interpolate("diffusion", z, species="Cl-")
    assert d[0] == pytest.approx(2.0e-9)
    assert d[1] == pytest.approx(2.0e-9 * (1 + 0.1 * 0.05))
    assert d[2] == pytest.approx(2.0e-9 * 1.2)
    with pytest.raises(ValueError, match="per species: pass species="):
        p.interpolate("diffusion", z)
    with pytest.raises(KeyError, match="unknown species 'K\\+'"):
        p.interpolate("diffusion", z, species="K+")
    with pytest.raises(ValueError, match="has no 'free_energy' data"):
        p.interpolate("free_energy", z, species="Na+")


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"z": np.linspace(1, 0, 21)}, "strictly increasing"),
        ({"charges": [1]}, "one entry per species"),
        ({"charges": [0.5, -1]}, "whole numbers"),
        ({"species": ["Na+", "Na+"]}, "unique"),
        ({"diffusion": np.zeros((2, 21))}, "diffusion must be > 0"),
        ({"concentration": -np.ones((2, 21))}, "concentration must be >= 0"),
        ({"potential": np.zeros(5)}, r"potential must have shape \(21,\)"),
        ({"temperature": -1.0}, "temperature must be > 0 K"),
    ],
)
def test_bad_profiles_are_refused(over, match):
    with pytest.raises(ValueError, match=match):
        _profile(**over)


def test_reading_a_foreign_file_is_refused(tmp_path):
    import h5py

    with h5py.File(tmp_path / "x.h5", "w") as fh:
        fh["a"] = 1
    with pytest.raises(ValueError, match="not a TransportProfile"):
        TransportProfile.read(tmp_path / "x.h5")
    with pytest.raises(FileNotFoundError, match="no TransportProfile file"):
        TransportProfile.read(tmp_path / "missing.h5")
