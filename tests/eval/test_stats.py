"""Evaluation statistics against known values."""

import numpy as np
import pytest

from vlaforge.eval.stats import mcnemar, mean_jerk, paired_bootstrap, verdict, wilson


def test_wilson_known_values():
    # Reference values (Wilson 1927; e.g. statsmodels proportion_confint(method="wilson")).
    p, lo, hi = wilson(8, 10)
    assert p == 0.8 and lo == pytest.approx(0.4901624, abs=1e-6) and hi == pytest.approx(0.9433178, abs=1e-6)
    _, lo, hi = wilson(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611252, abs=1e-6)
    _, lo, hi = wilson(50, 50)
    assert hi == 1.0 and lo == pytest.approx(0.9286524, abs=1e-6)
    assert np.isnan(wilson(0, 0)[0])


def test_mcnemar_exact():
    a = [True] * 10 + [False] * 10
    b = [True] * 10 + [True] * 8 + [False] * 2  # B wins 8 discordant pairs, A none
    r = mcnemar(a, b)
    assert (r["a_only"], r["b_only"]) == (0, 8)
    assert r["p_value"] == pytest.approx(2 / 2**8)  # exact binomial, two-sided
    assert mcnemar(a, a)["p_value"] == 1.0
    r = mcnemar([True, False, True, False], [False, True, True, False])
    assert r["p_value"] == pytest.approx(1.0)


def test_paired_bootstrap_detects_shift_and_not_noise():
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    assert paired_bootstrap(a, a + 0.5)["low"] > 0
    same = paired_bootstrap(a, a)
    assert same["diff"] == 0 and same["low"] == 0 and same["high"] == 0


def test_mean_jerk_zero_for_linear_and_quadratic():
    t = np.arange(50, dtype=float)[:, None]
    assert mean_jerk(np.hstack([t, t**2]), fps=10) == pytest.approx(0.0, abs=1e-6)
    assert mean_jerk(np.hstack([t**3]), fps=1) == pytest.approx(6.0)


def test_verdict_words():
    assert "better" in verdict("A", "B", 0.5, 0.9, 0.001) and verdict("A", "B", 0.5, 0.9, 0.001).startswith("B")
    assert verdict("A", "B", 0.5, 0.55, 0.6).startswith("No significant difference")
