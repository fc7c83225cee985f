"""A tiny power model served by MLServer over the V2 inference protocol (runs inside MLServer's own venv).

watts = 120 + 3.5 * cpuUsagePct + 2 * max(0, inletTempC - 20) + 0.5 * deltaP

Test hooks, chosen by the inlet temperature: >= 90 degC answers after 3 s (timeouts);
exactly -1 answers a non-numeric tensor (garbage payloads).
"""

import asyncio

from mlserver import MLModel
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput


class PowerModel(MLModel):
    async def load(self) -> bool:
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        values = list(payload.inputs[0].data)
        while values and isinstance(values[0], list):
            values = values[0]
        if len(values) != 3:
            raise ValueError(f"expected [[cpuUsagePct, inletTempC, deltaP]], got {len(values)} values")
        cpu, inlet, delta_p = (float(v) for v in values)
        if inlet >= 90:
            await asyncio.sleep(3)
        if inlet == -1:
            out = ResponseOutput(name="watts", shape=[1, 1], datatype="BYTES", data=["not-a-number"])
        else:
            watts = 120 + 3.5 * cpu + 2 * max(0.0, inlet - 20) + 0.5 * delta_p
            out = ResponseOutput(name="watts", shape=[1, 1], datatype="FP32", data=[watts])
        return InferenceResponse(model_name=self.name, model_version=self.version, outputs=[out])
