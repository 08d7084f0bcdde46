"""Folding a symmetric sandwich about its midplane (multiscale.extract.sandwich)."""

import numpy as np
import pytest
from ase import Atoms

from multiscale.extract.bulk import detect_bulk
from multiscale.extract.sandwich import fold_sandwich


def _frame(heights, top=5.0, lz=30.0, bottom=1.0):
    """Two Cu layers (z = bottom, top; tag 1) and O atoms at ``heights`` above the top one."""
    cu = [[0, 0, bottom], [1.5, 1.5, bottom], [0, 1.5, top], [1.5, 0, top]]
    o = [[0.5, 0.5, top + h] for h in heights]
    a = Atoms(f"Cu4O{len(heights)}", positions=cu + o, cell=[3, 3, lz], pbc=True)
    a.set_tags([1] * 4 + [0] * len(heights))
    return a


def test_fold_maps_mirror_images_to_the_same_height_and_keeps_the_metal():
    # surfaces: top layer at 5, image's bottom layer at 1 + 30 = 31: separation 26, midplane 18
    heights = [2.0, 24.0, 13.0, 10.0, 16.0, 26.5]  # 26.5: 0.5 Å into the upper layer plane
    f = fold_sandwich([_frame(heights)])
    assert f.separation == pytest.approx(26.0) and f.midplane_z == pytest.approx(18.0)
    h = f.frames[0].positions[4:, 2] - 5.0
    np.testing.assert_allclose(h, [2.0, 2.0, 13.0, 10.0, 10.0, -0.5])
    np.testing.assert_array_equal(f.frames[0].positions[:4], _frame(heights).positions[:4])
    np.testing.assert_array_equal(f.frames[0].positions[4:, :2], _frame(heights).positions[4:, :2])


def test_fold_takes_heights_modulo_the_cell_and_each_frames_own_surfaces():
    # an unwrapped atom one cell up, and a frame whose slab moved up by 0.3 Å
    a = _frame([3.0 + 30.0])
    b = _frame([3.0], top=5.3, bottom=1.3)
    f = fold_sandwich([a, b])
    assert f.frames[0].positions[4, 2] == pytest.approx(8.0)
    assert f.frames[1].positions[4, 2] == pytest.approx(8.3)
    assert f.surface_z == pytest.approx(5.15) and f.separation_std == pytest.approx(0.0)


def test_fold_refuses_what_is_not_a_sandwich():
    with pytest.raises(ValueError, match="no frames"):
        fold_sandwich([])
    no_metal = _frame([2.0])
    no_metal.set_tags(0)
    with pytest.raises(ValueError, match="no slab atoms"):
        fold_sandwich([no_metal])
    film = _frame([2.0])
    film.pbc = [True, True, False]
    with pytest.raises(ValueError, match="not periodic along z"):
        fold_sandwich([film])
    with pytest.raises(ValueError, match="inside the slab"):
        fold_sandwich([_frame([28.0])])  # between the image's bottom layer (31) and 5 + 30


def test_detect_bulk_from_the_end_of_a_folded_profile():
    # layering near the surface (first 10 bins), flat beyond: the region grows from the end
    z = 0.25 + 0.5 * np.arange(24)
    c = np.ones(z.size)
    err = np.full(z.size, 0.01)
    c[:10] += np.where(np.arange(10) % 2, 0.3, -0.3)
    r = detect_bulk(z, c, err, start="end")
    assert r.found and r.indices == (10, 24)
    # the same profile reversed is layered at its end: no bulk there
    rev = detect_bulk(z, c[::-1], err, start="end")
    assert not rev.found and "3 last bins are not flat" in rev.reason
    with pytest.raises(ValueError, match='start must be "middle" or "end"'):
        detect_bulk(z, c, err, start="far")


def test_a_metal_atom_leaving_its_layer_is_named():
    """A Cu atom pulled 3.7 Å out of the slab (next to a Cl-, as in a 36 Å run at 400 K): the
    fold refuses with the atom, its distance from the layer and its neighbour, not with a
    misleading 'liquid atom inside the slab'."""
    from multiscale.extract.sandwich import loose_metal_atoms

    cu = [[x, y, z] for z in (1.0, 3.0, 5.0) for x in (0, 1.5) for y in (0, 1.5)]
    a = Atoms("Cu12Cl", positions=[*cu, [0.2, 0.2, 20.0]], cell=[3, 3, 30], pbc=True)
    a.set_tags([1] * 12 + [0])
    metal = np.arange(12)
    assert loose_metal_atoms(a, metal) == []
    fold_sandwich([a])  # intact: folds
    a.positions[0, 2] = 1.0 - 3.7 + 30.0  # out of the image's bottom layer (unwrapped up)
    a.positions[12] = [0.0, 0.0, 30.0 + 1.0 - 3.7 + 2.3]  # its Cl- neighbour, 2.3 Å above it
    a.wrap()
    loose = loose_metal_atoms(a, metal)
    assert [i for i, _ in loose] == [0]
    assert loose[0][1] == pytest.approx(3.7, abs=0.2)  # below the (now 3-atom) bottom layer
    with pytest.raises(ValueError, match=r"frame 0: metal atom 0 \(Cu\) has left the slab's "
                       r"layers \(3\.\d+ Å .* next to Cl at 2\.30 Å\)"):  # fmt: skip
        fold_sandwich([a])
