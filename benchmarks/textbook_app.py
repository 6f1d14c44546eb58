"""The baseline: the loss endpoint a tutorial would write.

A Pydantic model with ``list[list[float]]`` fields, the NumPy maths written plainly, and a
dict returned for FastAPI to serialise, as FastAPI's own tutorial writes a POST endpoint (no
return annotation: FastAPI runs the dict through ``jsonable_encoder`` and ``json.dumps``).
It takes the same request body as the service's ``POST /losses/{name}`` (``y_true``,
``y_pred``, ``params.from_logits``, ``reduction``, ``return_grad``) and answers the same
fields, for 2-D inputs and the mean reduction only.

The same functions are also served under ``/annotated/losses/{name}`` with ``response_model=dict``
(what a ``-> dict`` return annotation gives): FastAPI then validates and serialises the answer
with Pydantic, which is much faster for large lists. The benchmark reports that variant for
information; the baseline is the tutorial form.

Serve it as the benchmark does: ``uvicorn benchmarks.textbook_app:app --no-access-log``.
"""

import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="Textbook loss endpoint")


class Params(BaseModel):
    from_logits: bool = False


class LossRequest(BaseModel):
    y_true: list[list[float]]
    y_pred: list[list[float]]
    params: Params = Params()
    reduction: str = "mean"
    return_grad: bool = False


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def answer(name: str, loss: float, grad, return_grad: bool) -> dict:
    result = {"name": name, "reduction": "mean", "dtype": "float64", "loss": float(loss)}
    if return_grad:
        result["grad"] = {"y_pred": grad.tolist()}
    return result


def mse(request: LossRequest):
    y_true = np.array(request.y_true)
    y_pred = np.array(request.y_pred)
    diff = y_pred - y_true
    loss = np.mean(diff**2)
    grad = 2 * diff / diff.size
    return answer("mse", loss, grad, request.return_grad)


def binary_crossentropy(request: LossRequest):
    y = np.array(request.y_true)
    x = np.array(request.y_pred)
    # Logits: the numerically stable form max(x, 0) - x y + log(1 + exp(-|x|)).
    loss = np.mean(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x))))
    grad = (sigmoid(x) - y) / x.size
    return answer("binary_crossentropy", loss, grad, request.return_grad)


def categorical_crossentropy(request: LossRequest):
    y = np.array(request.y_true)
    x = np.array(request.y_pred)
    # Logits: log-softmax over the last axis, shifted by the row maximum.
    shifted = x - x.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = np.mean(-(y * log_softmax).sum(axis=1))
    grad = (np.exp(log_softmax) * y.sum(axis=1, keepdims=True) - y) / x.shape[0]
    return answer("categorical_crossentropy", loss, grad, request.return_grad)


for endpoint in (mse, binary_crossentropy, categorical_crossentropy):
    app.post(f"/losses/{endpoint.__name__}")(endpoint)
    app.post(f"/annotated/losses/{endpoint.__name__}", response_model=dict)(endpoint)
