"""Switching functions: end conditions, exact continuity order, derivative, refusal of bad ones."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

from coupling.switching import SWITCHING_FUNCTIONS, SwitchingFunction, get_switching

CLAIMED = {"cubic": 1, "quintic": 2, "septic": 3, "cosine": 1, "linear": 0, "step": -1}


def one_sided_derivative(f, x0: float, m: int, sign: float, h: float = 2e-3) -> float:
    """m-th one-sided derivative at x0 from inside [0, 1].

    Forward (backward) m-th difference, Richardson-extrapolated in h (error O(h^2)).
    """
    k = np.arange(m + 1)
    coeff = np.array([(-1) ** (m - j) * comb(m, j) for j in k], dtype=float)

    def diff(step: float) -> float:
        return float(coeff @ f(x0 + sign * k * step)) / (sign * step) ** m

    return 2 * diff(h / 2) - diff(h)


@pytest.mark.parametrize("name", ["cubic", "quintic", "septic", "cosine", "linear"])
def test_builtin_order_is_exact(name):
    """Derivatives up to the claimed order vanish at both ends; the next one does not."""
    s = SWITCHING_FUNCTIONS[name]
    k = CLAIMED[name]
    assert s.continuity_order() == k
    assert s(0.0) == pytest.approx(1.0) and s(1.0) == pytest.approx(0.0, abs=1e-15)
    for m in range(1, k + 1):
        for end, sign in ((0.0, 1.0), (1.0, -1.0)):
            assert abs(one_sided_derivative(s.value, end, m, sign)) < 0.05, (name, m, end)
    for end, sign in ((0.0, 1.0), (1.0, -1.0)):
        assert abs(one_sided_derivative(s.value, end, k + 1, sign)) > 0.5, (name, end)


@pytest.mark.parametrize("name", ["cubic", "quintic", "septic", "cosine", "linear"])
def test_derivative_matches_finite_difference_and_values_are_weights(name):
    s = SWITCHING_FUNCTIONS[name]
    x = np.linspace(0.01, 0.99, 99)
    h = 1e-6
    fd = (s(x + h) - s(x - h)) / (2 * h)
    np.testing.assert_allclose(s.deriv(x), fd, atol=1e-7)
    v = s(np.linspace(0, 1, 1001))
    assert v.min() >= 0.0 and v.max() <= 1.0
    assert np.all(np.diff(v) <= 1e-15)  # monotonically decreasing
    # continued by constants outside [0, 1]
    np.testing.assert_array_equal(s(np.array([-2.0, -1e-9, 1.0 + 1e-9, 3.0])), [1, 1, 0, 0])
    np.testing.assert_array_equal(s.deriv(np.array([-1.0, 2.0])), [0.0, 0.0])


def test_polynomials_are_the_regularised_incomplete_beta():
    """Independent reference: 1 - I_x(k+1, k+1) is the lowest-degree C^k polynomial step."""
    from scipy.special import betainc

    x = np.linspace(0, 1, 41)
    for name, k in (("cubic", 1), ("quintic", 2), ("septic", 3)):
        np.testing.assert_allclose(SWITCHING_FUNCTIONS[name](x), 1 - betainc(k + 1, k + 1, x))


def test_step_is_discontinuous_by_declaration():
    s = get_switching("step")
    assert s.continuity_order() == -1
    assert s(0.49) == 1.0 and s(0.51) == 0.0


def test_user_function_overclaiming_order_is_refused():
    # 1 - x^2 has s'(1) = -2: not C1
    with pytest.raises(ValueError, match=r"claims C1 but is not.*x = 1"):
        SwitchingFunction("bad", lambda x: 1 - x**2, lambda x: -2 * x, order=1)
    # the cubic is C1 but not C2
    with pytest.raises(ValueError, match="claims C2 but is not"):
        SwitchingFunction(
            "cubic?", lambda x: 1 - 3 * x**2 + 2 * x**3, lambda x: -6 * x + 6 * x**2, order=2
        )


def test_user_function_with_wrong_ends_or_derivative_is_refused():
    with pytest.raises(ValueError, match=r"s\(0\) = 1 and s\(1\) = 0"):
        SwitchingFunction("up", lambda x: x, lambda x: np.ones_like(x), order=0)
    with pytest.raises(ValueError, match="derivative disagrees"):
        SwitchingFunction("wrongd", lambda x: 1 - x, lambda x: -2 * np.ones_like(x), order=0)
    with pytest.raises(ValueError, match=r"stay in \[0, 1\]"):
        SwitchingFunction(
            "overshoot",
            lambda x: 1 - x + np.sin(np.pi * x),
            lambda x: -1 + np.pi * np.cos(np.pi * x),
            order=0,
        )


def test_user_function_that_is_correct_is_accepted():
    # (1 - x)^2 (1 + 2x) is the cubic written differently
    s = SwitchingFunction(
        "mine", lambda x: (1 - x) ** 2 * (1 + 2 * x), lambda x: 6 * x * (x - 1), order=1
    )
    x = np.linspace(0, 1, 11)
    np.testing.assert_allclose(s(x), SWITCHING_FUNCTIONS["cubic"](x), atol=1e-14)


def test_get_switching_errors():
    with pytest.raises(ValueError, match="unknown switching function 'smooth'"):
        get_switching("smooth")
    with pytest.raises(TypeError, match="name or a SwitchingFunction"):
        get_switching(3)
    with pytest.raises(ValueError, match="order must be >= -1"):
        SwitchingFunction("x", lambda x: 1 - x, lambda x: -np.ones_like(x), order=-2)
