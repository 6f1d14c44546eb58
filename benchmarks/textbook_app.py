"""The baseline: the loss endpoint a tutorial would write (``list[list[float]]`` Pydantic fields, NumPy maths written
plainly, a dict returned for FastAPI to serialise; 2-D inputs, mean reduction), for the same body as
``POST /losses/{name}``.
Also served under ``/annotated/losses/{name}`` with ``response_model=dict``, for information. See benchmarks/README.md.
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
