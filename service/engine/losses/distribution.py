"""Divergences between distributions over the last axis; elementwise values."""

from __future__ import annotations

import numpy as np

from ..shapes import Elementwise
from ..spec import Array, Family, InputSpec, ParamSpec, Unreduced
from ..stable import xlogy
from ..validate import require_probabilities

family = Family("distribution", shape_rule=Elementwise())


@family.loss(
    summary="Kullback-Leibler divergence KL(y_true || y_pred), on probabilities or log-probabilities.",
    reference="log_input=true: torch.nn.functional.kl_div; "
    "both probabilities: keras.losses.kl_divergence (= torch batchmean on the log of the clipped input)",
    formula=r"\ell = y \left( \log y - \log \hat{y} \right)",
    example={"y_true": [[0.2, 0.8], [0.5, 0.5]], "y_pred": [[0.3, 0.7], [0.6, 0.4]]},
    inputs=(
        InputSpec("y_true", "target distribution: probabilities, or log-probabilities when log_target"),
        InputSpec(
            "y_pred",
            "predicted distribution: probabilities, or log-probabilities when log_input",
            differentiable=True,
        ),
    ),
    params=(
        ParamSpec("log_input", "boolean", "y_pred holds log-probabilities"),
        ParamSpec("log_target", "boolean", "y_true holds log-probabilities"),
        ParamSpec("eps", "number", "probabilities are clipped to [eps, 1]", gt=0, lt=1),
    ),
    reductions=("batchmean", "mean", "sum", "none"),
    default_reduction="batchmean",
)
def kl_divergence(
    y_true: Array,
    y_pred: Array,
    *,
    log_input: bool = False,
    log_target: bool = False,
    eps: float = 1e-7,
) -> Unreduced:
    """Kullback-Leibler divergence ``KL(t || q)``, elementwise: ``l = t (log t - log q)``.

    - ``log_input`` (PyTorch ``kl_div``, ``y_pred = log q``): ``l = xlogy(t, t) - t log q``
      (``0 log 0 = 0``), or with ``log_target`` (``y_true = log t``) ``l = exp(y_true)
      (y_true - log q)``. ``dl/dlog q = -t``.
    - both probabilities (Keras ``kl_divergence``): ``t = clip(y_true, eps, 1)``,
      ``q = clip(y_pred, eps, 1)``, ``l = t log(t / q)``; ``dl/dq = -t / q`` where the clip
      left ``y_pred`` unchanged, else 0. With ``log_target`` the target is ``exp(y_true)``
      unclipped, as PyTorch's ``kl_div(log(clip(q)), y_true, log_target=True)``.

    The default reduction ``batchmean`` divides the sum by ``N``: the true KL averaged
    over samples (Keras's per-sample sum, averaged).

    Shapes: ``y_true``, ``y_pred``: ``(N, ..., C)``; ``l``: the same.
    """
    if not log_target:
        require_probabilities("y_true", y_true)
    if not log_input:
        require_probabilities("y_pred", y_pred)

    if log_input:
        log_q, pull_back = y_pred, None
    else:
        q = np.clip(y_pred, eps, 1)
        unclipped = q == y_pred
        log_q = np.log(q)
        pull_back = np.where(unclipped, 1 / q, 0)  # d log q / d y_pred

    if log_target:
        t = np.exp(y_true)
        values = t * (y_true - log_q)
    elif log_input:
        t = y_true
        values = xlogy(t, t) - t * log_q
    else:
        t = np.clip(y_true, eps, 1)
        values = t * (np.log(t) - log_q)

    d_log_q = -t if pull_back is None else -t * pull_back
    return Unreduced(values, lambda g: {"y_pred": g * d_log_q})
