"""MSE and its gradient as an MLServer custom model: the peer in the benchmark suite.

Takes the same Open Inference Protocol request as the loss service's ``/v2/models/mse/infer``
(FP64 inputs ``y_true`` and ``y_pred``, ``parameters.return_grad``) and answers ``loss``
(shape ``[]``, the mean) and ``grad_y_pred``, the way an MLServer user would write it: the
inputs decoded with MLServer's own ``NumpyCodec``, the maths in NumPy.
"""

from __future__ import annotations

import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput


class MSELoss(MLModel):
    async def load(self) -> bool:
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        arrays = {item.name: NumpyCodec.decode_input(item).astype(np.float64) for item in payload.inputs}
        diff = arrays["y_pred"] - arrays["y_true"]
        loss = float(np.mean(diff * diff))
        outputs = [ResponseOutput(name="loss", shape=[], datatype="FP64", data=[loss])]
        if payload.parameters is not None and getattr(payload.parameters, "return_grad", False):
            grad = 2 * diff / diff.size
            outputs.append(
                ResponseOutput(name="grad_y_pred", shape=list(grad.shape), datatype="FP64", data=grad.ravel().tolist())
            )
        return InferenceResponse(model_name=self.name, model_version=self.version, id=payload.id, outputs=outputs)
