"""Row-wise pieces of the losses on pairs and triplets of vectors (the last axis is the vector).

Each distance or similarity comes with its gradient with respect to both vectors, so that a
loss only chains its own derivative on top (``Pairwise``). The forms are PyTorch's (and
optax's cosine, which floors the squared norms instead), evaluated so that no intermediate
square overflows or underflows where the result itself is representable: see each function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..spec import Array


@dataclass(frozen=True)
class Pairwise:
    """A per-row quantity of two batches of vectors ``(N, D)`` and its gradient with respect to each."""

    value: Array  # (N,)
    d_first: Array  # (N, D): d value / d first
    d_second: Array  # (N, D): d value / d second

    def __rsub__(self, one: float) -> Pairwise:
        """``1 - self`` (a cosine distance from a cosine similarity)."""
        return Pairwise(one - self.value, -self.d_first, -self.d_second)


def power_of_two_scale(x: Array) -> Array:
    """Per row (last axis), the exponent ``e >= 0`` with ``max |x| < 2^e``: dividing by ``2^e``
    is exact and brings the row into [-1, 1], so squares and products cannot overflow."""
    _, exponent = np.frexp(np.max(np.abs(x), axis=-1))
    return np.maximum(exponent, 0)


def _scaled(x: Array) -> tuple[Array, Array, Array]:
    """``(s, x / s, ||x / s||)`` per row (kept axes), ``s = max |x|`` (1 for a zero row): each
    entry of ``x / s`` is at most 1, so its squares neither overflow nor all underflow."""
    top = np.max(np.abs(x), axis=-1, keepdims=True)
    safe = np.where(top > 0, top, 1)
    w = x / safe
    return safe, w, np.sqrt(np.sum(w**2, axis=-1, keepdims=True))


def l2_norm(x: Array) -> Array:
    """The L2 norm over the last axis (kept), scaled by the largest entry so squares never overflow."""
    safe, _, r = _scaled(x)
    return safe * r


def l2_direction(x: Array) -> tuple[Array, Array]:
    """``(||x||, x / ||x||)`` over the last axis (kept), the direction 0 for a zero row.

    The direction is ``w / ||w||`` with ``w = x / max |x|``: exact to rounding for any finite row,
    even where ``||x||`` itself overflows (it is ``inf`` then) or its squares underflow.
    """
    safe, w, r = _scaled(x)
    return safe * r, w / np.where(r > 0, r, 1)


def p_norm(diff: Array, p: float) -> tuple[Array, Array]:
    """``||diff||_p`` over the last axis and its gradient with respect to ``diff``.

    The norm is ``s (sum (|d| / s)^p)^(1/p)`` with ``s = max |d|``: each ratio is at most 1,
    so no power overflows or underflows to a wrong result for any finite ``diff`` and any
    ``p > 0`` (the norm itself can exceed the float range for tiny ``p``: that is a real
    overflow). The gradient is PyTorch's ``norm_backward``: ``sign(d) (|d| / norm)^(p - 1)``,
    i.e. ``sign(d)`` for ``p = 1``, ``d / norm`` for ``p = 2``; 0 where ``norm = 0`` and, for
    ``p < 1``, 0 where ``d = 0`` (PyTorch masks both).
    """
    magnitude = np.abs(diff)
    top = np.max(magnitude, axis=-1, keepdims=True)
    safe_top = np.where(top > 0, top, 1)
    if p == 1:
        norm = np.sum(magnitude, axis=-1)
        return norm, np.sign(diff)
    if p == 2:
        ratio = magnitude / safe_top
        norm = top[..., 0] * np.sqrt(np.sum(ratio * ratio, axis=-1))
        safe_norm = np.where(norm > 0, norm, 1)[..., None]
        return norm, np.where(norm[..., None] > 0, diff / safe_norm, 0)
    ratio = magnitude / safe_top
    norm = top[..., 0] * np.sum(ratio**p, axis=-1) ** (1 / p)
    safe_norm = np.where(norm > 0, norm, 1)[..., None]
    grad = np.sign(diff) * (magnitude / safe_norm) ** (p - 1)
    return norm, np.where((norm[..., None] > 0) & (magnitude > 0), grad, 0)


def pairwise_distance(x1: Array, x2: Array, p: float, eps: float) -> Pairwise:
    """PyTorch's ``pairwise_distance``: ``||x1 - x2 + eps||_p`` (``eps`` added to every component
    of the difference, not to the norm), with ``p_norm``'s stable form and gradient."""
    norm, grad = p_norm(x1 - x2 + eps, p)
    return Pairwise(norm, grad, -grad)


def torch_cosine_similarity(x1: Array, x2: Array, eps: float) -> Pairwise:
    """PyTorch's ``cosine_similarity`` over the last axis, ``eps > 0``, and its autograd gradient.

    ATen (torch >= 1.12) computes ``sum((x1 / n1) * (x2 / n2))`` with ``n_k = max(||x_k||, eps)``,
    clamping the norms in place under ``no_grad``: the clamp passes no gradient of its own, so
    autograd differentiates ``x / n`` as if ``n`` were the plain norm (``d||x||/dx = x / ||x||``,
    0 for a zero vector: ``linalg_vector_norm``'s backward masks it). Hence, with
    ``u_k = x_k / n_k`` and ``c = u1 . u2``::

        dc/dx1 = (u2 - c x1 / ||x1||) / n1        (and symmetrically for x2)

    which is the exact derivative where ``||x1|| >= eps``; below, ``u1 = x1 / eps`` and the
    formula is PyTorch's straight-through value (for a zero ``x1``: ``u2 / eps``, as torch's
    own ``test_cosine_similarity`` checks). Stable form: ``x / ||x||`` is ``l2_direction``'s,
    exact for any finite row (``||x||`` may overflow to ``inf`` only for rows near the float
    limit; the gradient ``~ 1 / ||x||`` is then 0 instead of a subnormal).
    """
    norm1, dir1 = l2_direction(x1)
    norm2, dir2 = l2_direction(x2)
    n1, n2 = np.maximum(norm1, eps), np.maximum(norm2, eps)
    u1 = np.where(norm1 >= eps, dir1, x1 / eps)
    u2 = np.where(norm2 >= eps, dir2, x2 / eps)
    cos = np.sum(u1 * u2, axis=-1, keepdims=True)
    return Pairwise(cos[..., 0], (u2 - cos * dir1) / n1, (u1 - cos * dir2) / n2)


@dataclass(frozen=True)
class Triplet:
    """``max(0, margin + d(a, p) - d(a, n))`` per triplet, ``d(a, n)`` replaced by
    ``min(d(a, n), d(p, n))`` under the distance swap, and its pullback to the three inputs.

    As PyTorch writes it (``clamp_min`` and ``torch.minimum``): the gradient passes where
    ``margin + d(a, p) - d(a, n) >= 0`` (at the kink too) and, at a tie ``d(a, n) == d(p, n)``
    under the swap, is split half and half between the two distances.
    """

    values: Array
    pos: Pairwise  # d(anchor, positive)
    neg: Pairwise  # d(anchor, negative)
    swap: Pairwise | None  # d(positive, negative), with the weights of the minimum
    active: Array
    w_neg: Array | None = None
    w_swap: Array | None = None

    @staticmethod
    def of(pos: Pairwise, neg: Pairwise, swap: Pairwise | None, margin: float) -> Triplet:
        d_neg = neg.value
        w_neg = w_swap = None
        if swap is not None:
            w_neg = np.where(d_neg < swap.value, 1.0, np.where(d_neg == swap.value, 0.5, 0.0)).astype(d_neg.dtype)
            w_swap = 1 - w_neg
            d_neg = np.minimum(d_neg, swap.value)
        z = margin + pos.value - d_neg
        return Triplet(np.maximum(z, 0), pos, neg, swap, z >= 0, w_neg, w_swap)

    def vjp(self, g: Array) -> dict[str, Array]:
        # Grouped as -k (d d_pos/dx ...): for a p-distance, where -d_second is exactly d_first, these are
        # the very operations triplet_margin always did, down to the sign of a zero.
        k = np.where(self.active, g, 0)[:, None]
        pos, neg, swap = self.pos, self.neg, self.swap
        if swap is None or self.w_neg is None or self.w_swap is None:
            return {
                "anchor": k * (pos.d_first - neg.d_first),
                "positive": -k * -pos.d_second,
                "negative": k * -neg.d_second,
            }
        wn, ws = self.w_neg[:, None], self.w_swap[:, None]
        return {
            "anchor": k * (pos.d_first - wn * neg.d_first),
            "positive": -k * (-pos.d_second + ws * swap.d_first),
            "negative": k * (wn * -neg.d_second + ws * -swap.d_second),
        }
