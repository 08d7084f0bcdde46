"""The hierarchical screening funnel (multiscale.properties.screening) on a tiny case.

EMT at every level keeps it fast; the point is the mechanics: candidate generation on a random
alloy (111) slab, ranking, rank correlations, restart without recomputation, locking and the
cluster model handed to the check level.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase.calculators.emt import EMT

from multiscale.properties.screening import (
    HopCandidate,
    alloy_hop_candidates,
    cluster_model,
    screen_hops,
)


class Counting:
    """Calculator factory that counts how many calculators it has built."""

    def __init__(self):
        self.n = 0

    def __call__(self, *args):
        self.n += 1
        return EMT()


@pytest.fixture(scope="module")
def candidates():
    cands = alloy_hop_candidates("Cu", "Ni", 0.3, size=(3, 3, 3), adsorbate="O", seed=3)
    return cands[:12]


def test_candidates_geometry_and_reproducibility():
    a = alloy_hop_candidates("Cu", "Ni", 0.3, size=(3, 3, 3), seed=7)
    b = alloy_hop_candidates("Cu", "Ni", 0.3, size=(3, 3, 3), seed=7)
    assert len(a) == 3 * 9  # three hcp neighbours per fcc hollow
    assert [c.fingerprint() for c in a] == [c.fingerprint() for c in b]
    d_nn = 3.6 / np.sqrt(2)
    for c in a:
        # the two hollows share an edge: hollow-to-hollow distance d_nn / sqrt(3)
        hop = np.linalg.norm(c.final.positions[-1, :2] - c.initial.positions[-1, :2])
        assert hop == pytest.approx(d_nn / np.sqrt(3), rel=0.05)
        assert len(set(c.initial_site) | set(c.final_site)) == 4
    n_ni = sum(s == "Ni" for s in a[0].initial.get_chemical_symbols())
    assert n_ni == round(0.3 * 27)
    other = alloy_hop_candidates("Cu", "Ni", 0.3, size=(3, 3, 3), seed=8)
    assert a[0].fingerprint() != other[0].fingerprint()


def test_pure_metal_fcc_and_hcp_are_nearly_degenerate():
    from multiscale.properties.screening import _fast_level

    cand = alloy_hop_candidates("Cu", "Ni", 0.0, size=(3, 3, 3), adsorbate="Cu", height=2.0)[0]
    rec = _fast_level(cand, EMT, 0.02)
    # fcc and hcp hollows of a pure (111) surface differ by a few meV, the bridge is higher
    assert abs(rec["reaction_energy"]) < 0.01
    assert 0.02 < rec["barrier"] < 0.3


def test_funnel_ranks_correlates_and_restarts(tmp_path, candidates):
    fast, refine, check = Counting(), Counting(), Counting()
    kw = dict(n_refine=3, n_check=3, names=("EMT-fixed", "EMT-NEB", "EMT-cluster"))
    res = screen_hops(candidates, tmp_path, fast, refine, check, **kw)
    lf, lr, lc = res.level("fast"), res.level("refine"), res.level("check")
    assert len(lf.records) == 12 and len(lr.records) == 3 and len(lc.records) == 3
    # each level refines the best of the previous one
    assert set(lr.records) == set(lf.ranking[:3])
    assert set(lc.records) == set(lr.ranking[:3])
    assert [lf.barriers[i] for i in lf.ranking] == sorted(lf.barriers.values())
    for rec in lr.records.values():
        assert rec["barrier"] >= -1e-6 and rec["neb_converged"]
    c = res.correlations["fast/refine"]
    assert c["n"] == 3 and c["spearman"] is not None and -1 <= c["spearman"] <= 1
    assert "refine/check" in res.correlations and "fast/check" in res.correlations
    assert fast.n == 3 * 12 and refine.n > 3 and check.n == 3 * 3
    assert lf.n_computed == 12 and lf.cost_s > 0
    for kind in ("fast", "refine", "check"):
        assert (tmp_path / f"{kind}.json").exists()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["levels"][0]["ranking"] == lf.ranking
    text = res.table()
    assert "Spearman" in text and "EMT-NEB" in text

    # rerun: nothing is recomputed, the same ranking comes back
    fast2, refine2, check2 = Counting(), Counting(), Counting()
    res2 = screen_hops(candidates, tmp_path, fast2, refine2, check2, **kw)
    assert fast2.n == refine2.n == check2.n == 0
    assert all(lev.n_computed == 0 for lev in res2.levels)
    assert res2.level("fast").n_reused == 12
    assert res2.level("check").ranking == lc.ranking
    assert res2.correlations == res.correlations

    # a larger n_refine computes only the new candidates
    refine3 = Counting()
    res3 = screen_hops(candidates, tmp_path, Counting(), refine3, None, **{**kw, "n_refine": 4})
    assert res3.level("refine").n_computed == 1 and res3.level("refine").n_reused == 3
    assert len(res3.levels) == 2


def test_failed_calculation_is_recorded_not_ranked(tmp_path, candidates):
    from ase.calculators.calculator import SCFError

    calls = []

    def flaky(cluster):
        calls.append(1)
        if len(calls) == 2:  # the first candidate's saddle point
            raise SCFError("SCF did not converge")
        return EMT()

    kw = dict(n_refine=2, n_check=2)
    res = screen_hops(candidates[:4], tmp_path, EMT, EMT, flaky, **kw)
    check = res.level("check")
    assert len(check.failed) == 1 and len(check.ranking) == 1
    assert "SCFError" in check.records[check.failed[0]]["failed"]
    assert check.failed[0] not in check.barriers
    assert "failed 1" in res.table()
    n = len(calls)
    res2 = screen_hops(candidates[:4], tmp_path, EMT, EMT, flaky, **kw)
    assert len(calls) == n and res2.level("check").failed == check.failed


def test_spot_checks_below_the_cut(tmp_path, candidates):
    res = screen_hops(candidates[:8], tmp_path, EMT, EMT, None, n_refine=2, n_spot=2, seed=1)
    fast, refine = res.level("fast"), res.level("refine")
    assert len(refine.records) == 4 and len(refine.spot) == 2
    assert set(refine.spot) <= set(fast.ranking[2:])  # drawn below the level-1 cut
    cut = max(refine.barriers[i] for i in fast.ranking[:2])
    assert refine.missed == [i for i in refine.spot if refine.barriers[i] < cut]
    assert res.correlations["fast/refine"]["n"] == 4
    assert "spot checks below the cut" in res.table()
    with pytest.raises(ValueError, match="n_spot must be an integer >= 0"):
        screen_hops(candidates, tmp_path, EMT, EMT, n_spot=-1)


def test_work_folder_with_other_settings_is_refused(tmp_path, candidates):
    screen_hops(candidates[:3], tmp_path, EMT, EMT, None, n_refine=1, names=("a", "b", "c"))
    with pytest.raises(ValueError, match="other settings"):
        screen_hops(candidates[:3], tmp_path, EMT, EMT, None, n_refine=1, names=("x", "b", "c"))


def test_locked_work_folder_is_refused(tmp_path, candidates):
    from filelock import FileLock

    with FileLock(str(tmp_path / "screening.lock")):
        with pytest.raises(RuntimeError, match="locked by another screening run"):
            screen_hops(candidates[:2], tmp_path, EMT, EMT, n_refine=1)


def test_cluster_model_unwraps_periodic_sites(candidates):
    for cand in candidates:
        metals = sorted(set(cand.initial_site) | set(cand.final_site))
        cluster = cluster_model(cand.initial, metals)
        assert len(cluster) == 5 and not cluster.pbc.any()
        d = cluster.get_all_distances()[0, 1:]
        assert d.max() < 4.0  # all four metal atoms near the adsorbate, none across the cell


def test_bad_input_is_refused(tmp_path, candidates):
    with pytest.raises(ValueError, match="candidates is empty"):
        screen_hops([], tmp_path, EMT, EMT)
    with pytest.raises(TypeError, match="HopCandidate"):
        screen_hops(["x"], tmp_path, EMT, EMT)
    with pytest.raises(TypeError, match="fast_calc must be a callable"):
        screen_hops(candidates, tmp_path, EMT(), EMT)
    with pytest.raises(ValueError, match="n_refine must be an integer >= 1"):
        screen_hops(candidates, tmp_path, EMT, EMT, n_refine=0)
    with pytest.raises(ValueError, match="unique"):
        screen_hops([candidates[0], candidates[0]], tmp_path, EMT, EMT)
    with pytest.raises(ValueError, match="solute_fraction must be in"):
        alloy_hop_candidates("Cu", "Ni", 1.5)
    with pytest.raises(ValueError, match="host must be a chemical symbol"):
        alloy_hop_candidates("Xx", "Ni")
    with pytest.raises(ValueError, match="size must be three integers"):
        alloy_hop_candidates("Cu", "Ni", size=(1, 3, 3))
    with pytest.raises(ValueError, match="metal_indices"):
        cluster_model(candidates[0].initial, [len(candidates[0].initial) - 1])
    assert isinstance(candidates[0], HopCandidate)


def test_example_quick_runs_and_reuses(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "properties_screening.py"
    cmd = [sys.executable, str(script), str(tmp_path / "w"), "--quick"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Spearman" in first.stdout and (tmp_path / "w" / "screening.png").exists()
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "computed 0, reused 8" in second.stdout
    assert "[fast]" not in second.stdout  # nothing recomputed


def test_rank_correlation_of_a_few_candidates_has_an_exact_p_value():
    """Three candidates in the same order: rho = 1, but 2 of the 3! orderings reach |rho| = 1,
    so the exact two-sided p is 1/3 (scipy's t approximation says 0)."""
    from multiscale.properties.screening import _correlation

    a = {"x": 0.1, "y": 0.2, "z": 0.3}
    out = _correlation(a, {"x": 1.0, "y": 2.0, "z": 5.0})
    assert out["spearman"] == pytest.approx(1.0)
    assert out["spearman_p"] == pytest.approx(1 / 3)
    # 9 candidates: the approximation is kept (and is near the exact value there)
    rng = np.random.default_rng(0)
    big = {f"c{i}": float(v) for i, v in enumerate(rng.normal(size=9))}
    noisy = {k: v + 0.3 * rng.normal() for k, v in big.items()}
    assert 0 <= _correlation(big, noisy)["spearman_p"] < 0.05
