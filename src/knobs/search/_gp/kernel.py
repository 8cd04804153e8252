"""Matérn-5/2 kernel with one lengthscale per input (ARD) and Hamming distance on categoricals.

Glossary of array shapes:
    n: training points, m: query points, d: input dimensions (one per search parameter).
    A (m, d), B (n, d): points in the unit cube.
    is_cat (d,): True where a dimension is categorical; its distance is 1[a != b] (Hamming), so
        one coordinate per categorical keeps d small and no order between options is implied.
    inv_ls2 (d,): 1 / lengthscale**2.
    D (m, n, d): per-dimension squared distances (or mismatch indicators), independent of the
        kernel hyperparameters, so a fit computes it once.
    r2 (m, n): scaled squared distance, r2 = D @ inv_ls2.
    is_cond (d,) or None: True where a dimension is conditional and its inactive coordinates are
        NaN: on such an axis an inactive value is its own state, at the same distance from every
        active value (``arc_sq_dist``); None (or no NaN-coded axis) leaves the plain distances.

Why Matérn-5/2: twice differentiable (so EI has gradients) but rougher than the squared
exponential, which matches validation-loss surfaces better (Snoek et al. 2012).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SQRT5", "ARC_RADIUS", "arc_sq_dist", "circle", "arc_half_grad", "sq_dists", "scaled_sq_dists", "matern52", "matern52_dr2", "matern52_with_dr2", "kernel_matrix"]

SQRT5 = np.sqrt(5.0)
# NOTE: an active value x of a conditional axis sits at angle x / ARC_RADIUS on a circle of this
# radius, an inactive one at the centre (the arc embedding of Swersky et al. 2014, "Raiders of the
# lost architecture"): active pairs keep nearly their plain distance (the chord: 0.84 across the
# whole unit range, within 1% of |x - y| below 0.25), and an inactive point is 0.5 away from every
# active value, as far as the edges were from the old imputed centre.
ARC_RADIUS = 0.5


def arc_sq_dist(a: np.ndarray, b: np.ndarray, categorical: bool = False) -> np.ndarray:
    """Squared distance on one conditional axis, NaN meaning inactive: (m,), (n,) -> (m, n).

    Both inactive: 0; one inactive: ARC_RADIUS**2 (a categorical: a mismatch, 1); both active: the
    chord 2 rho^2 (1 - cos((a - b) / rho)) (a categorical: the Hamming mismatch). A squared
    Euclidean distance of an embedding, so a Matérn kernel on it stays positive definite (setting
    one-inactive pairs to 0, "the parameter does not matter", would not).
    """
    off_a, off_b = np.isnan(a)[:, None], np.isnan(b)[None, :]
    diff = a[:, None] - b[None, :]
    if categorical:
        active = (diff != 0.0).astype(float)
        apart = 1.0
    else:
        active = 2.0 * ARC_RADIUS**2 * (1.0 - np.cos(diff / ARC_RADIUS))
        apart = ARC_RADIUS**2
    return np.where(off_a & off_b, 0.0, np.where(off_a | off_b, apart, active))


def circle(V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Arc axes' points on the circle: (rho cos(v / rho), rho sin(v / rho)), (0, 0) where v is NaN
    (inactive); (m, k) each. Their squared Euclidean distance is ``arc_sq_dist``."""
    off = np.isnan(V)
    angle = np.where(off, 0.0, V) / ARC_RADIUS
    return (np.where(off, 0.0, ARC_RADIUS * np.cos(angle)),
            np.where(off, 0.0, ARC_RADIUS * np.sin(angle)))


def arc_half_grad(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Half the derivative of ``arc_sq_dist`` in a, for numeric arc axes: (m, k), (n, k) -> (m, n, k).

    rho sin((a - b) / rho) where both are active, else 0 (a plain axis's counterpart is a - b);
    from the circle coordinates, (S_a C_b - C_a S_b) / rho, which is 0 when either is inactive.
    """
    Ca, Sa = circle(A)
    Cb, Sb = circle(B)
    return (Sa[:, None, :] * Cb[None, :, :] - Ca[:, None, :] * Sb[None, :, :]) / ARC_RADIUS


def _arc_axes(is_cond: np.ndarray | None) -> np.ndarray:
    return np.flatnonzero(is_cond) if is_cond is not None else np.zeros(0, dtype=int)


def sq_dists(A: np.ndarray, B: np.ndarray, is_cat: np.ndarray,
             is_cond: np.ndarray | None = None) -> np.ndarray:
    """Per-dimension squared differences (continuous) or mismatches (categorical): (m, n, d)."""
    diff = A[:, None, :] - B[None, :, :]
    # NOTE: categorical coordinates are bin centres, so equal options give exactly equal floats.
    D = np.where(is_cat, (diff != 0.0).astype(float), diff * diff)
    arcs = _arc_axes(is_cond)
    if arcs.size:
        numeric, choice = arcs[~is_cat[arcs]], arcs[is_cat[arcs]]
        Ca, Sa = circle(A[:, numeric])
        Cb, Sb = circle(B[:, numeric])
        D[:, :, numeric] = (Ca[:, None, :] - Cb[None, :, :]) ** 2 + (Sa[:, None, :] - Sb[None, :, :]) ** 2
        # an inactive choice is one more option: -1 matches only another inactive one
        a, b = np.nan_to_num(A[:, choice], nan=-1.0), np.nan_to_num(B[:, choice], nan=-1.0)
        D[:, :, choice] = (a[:, None, :] != b[None, :, :]).astype(float)
    return D


def scaled_sq_dists(A: np.ndarray, B: np.ndarray, is_cat: np.ndarray, inv_ls2: np.ndarray,
                    is_cond: np.ndarray | None = None) -> np.ndarray:
    """r2 = sq_dists(A, B, is_cat) @ inv_ls2 without the (m, n, d) array: (m, n).

    NOTE: the numeric axes go through one matrix product, |a|^2 + |b|^2 - 2 a.b on coordinates
    scaled by 1/lengthscale (clipped at 0: equal points may round to -1e-15); categorical axes
    add their mismatch one axis at a time. For the thousands of candidates an acquisition scores
    (the posterior's main cost) this is ~5x faster than one (m, n) pass per axis, and equal to
    ~1e-13.
    """
    arcs = _arc_axes(is_cond)
    A_num, B_num = _numeric_columns(A, is_cat, inv_ls2, arcs), _numeric_columns(B, is_cat, inv_ls2, arcs)
    r2 = (np.einsum("ij,ij->i", A_num, A_num)[:, None] + np.einsum("ij,ij->i", B_num, B_num)[None, :]
          - 2.0 * (A_num @ B_num.T))
    np.maximum(r2, 0.0, out=r2)
    for j in np.flatnonzero(is_cat):
        if j in arcs:  # an inactive choice is one more option: -1 matches only another inactive one
            r2 += inv_ls2[j] * (np.nan_to_num(A[:, j], nan=-1.0)[:, None] != np.nan_to_num(B[:, j], nan=-1.0)[None, :])
        else:
            r2 += inv_ls2[j] * (A[:, j, None] != B[None, :, j])
    return r2


def _numeric_columns(A: np.ndarray, is_cat: np.ndarray, inv_ls2: np.ndarray, arcs: np.ndarray) -> np.ndarray:
    """A's numeric coordinates scaled by 1/lengthscale; a numeric arc axis becomes its two
    coordinates on the circle, (rho cos(x / rho), rho sin(x / rho)), the centre (0, 0) where inactive.

    NOTE: the squared Euclidean distance of those two columns is exactly ``arc_sq_dist``, so the arc
    axes ride in the same matrix product as the plain ones instead of a cos per (m, n) pair.
    """
    num = ~np.asarray(is_cat, dtype=bool)
    if arcs.size == 0:
        return A[:, num] * np.sqrt(inv_ls2[num])
    arc_num = arcs[num[arcs]]
    num[arcs] = False
    on_circle = np.hstack(circle(A[:, arc_num]))
    return np.hstack([A[:, num] * np.sqrt(inv_ls2[num]), on_circle * np.tile(np.sqrt(inv_ls2[arc_num]), 2)])


def matern52(r2: np.ndarray) -> np.ndarray:
    """Unit-variance Matérn-5/2 as a function of the scaled squared distance."""
    r = np.sqrt(np.maximum(r2, 0.0))
    return (1.0 + SQRT5 * r + (5.0 / 3.0) * r2) * np.exp(-SQRT5 * r)


def matern52_dr2(r2: np.ndarray) -> np.ndarray:
    """d matern52 / d r2 = -(5/6) (1 + sqrt5 r) exp(-sqrt5 r); finite at r = 0."""
    r = np.sqrt(np.maximum(r2, 0.0))
    return -(5.0 / 6.0) * (1.0 + SQRT5 * r) * np.exp(-SQRT5 * r)


def matern52_with_dr2(r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(matern52(r2), matern52_dr2(r2)) sharing one square root and one exponential (the same
    floats as the two calls, at half their cost: a fit evaluates both at every step)."""
    r = np.sqrt(np.maximum(r2, 0.0))
    e = np.exp(-SQRT5 * r)
    a = 1.0 + SQRT5 * r
    return (a + (5.0 / 3.0) * r2) * e, -(5.0 / 6.0) * a * e


def kernel_matrix(
    A: np.ndarray, B: np.ndarray, is_cat: np.ndarray, inv_ls2: np.ndarray, signal_var: float,
    is_cond: np.ndarray | None = None,
) -> np.ndarray:
    """Cross-covariance k(A, B): (m, n), without the noise term."""
    return signal_var * matern52(scaled_sq_dists(A, B, is_cat, inv_ls2, is_cond))
