"""GPU power limits through NVML (``pynvml`` from ``nvidia-ml-py``).

``pynvml`` is imported lazily: a node without the library, without the driver or
without GPUs has GPU state ``none``, which is reported, not an error. Tests pass a
stand-in for the ``pynvml`` module itself, so everything above the NVML calls is real.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from types import ModuleType
from typing import Any

from agent.inventory import GpuDevice
from agent.txn import ChannelError

log = logging.getLogger(__name__)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Nvml:
    """An NVML session: discovery, power-limit channel, power readings."""

    name = "nvml"

    def __init__(self, module: ModuleType | Any | None = None, enabled: bool = True) -> None:
        self._module = module
        self.enabled = enabled
        self.nvml: Any = None
        self.state = "none"
        self.reason = "not started"

    def start(self) -> bool:
        """Initialise NVML; False (with ``reason``) when there is nothing to drive."""
        if not self.enabled:
            self.reason = "GPU control disabled (--gpu off)"
            return False
        nvml = self._module
        if nvml is None:
            try:
                nvml = importlib.import_module("pynvml")
            except ImportError:
                self.reason = "nvidia-ml-py is not installed"
                return False
        try:
            nvml.nvmlInit()
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as exc:
            self.reason = f"NVML unavailable: {exc}"
            return False
        if count == 0:
            self.reason = "NVML reports no GPU"
            nvml.nvmlShutdown()
            return False
        self.nvml, self.state, self.reason = nvml, "nvml", f"{count} GPU(s)"
        return True

    def stop(self) -> None:
        if self.nvml is not None:
            with contextlib.suppress(self.nvml.NVMLError):
                self.nvml.nvmlShutdown()
            self.nvml, self.state = None, "none"

    # ------------------------------------------------------------- discovery

    def devices(self) -> list[GpuDevice]:
        n = self.nvml
        if n is None:
            return []
        out = []
        try:
            for i in range(n.nvmlDeviceGetCount()):
                h = n.nvmlDeviceGetHandleByIndex(i)
                lo, hi = n.nvmlDeviceGetPowerManagementLimitConstraints(h)
                try:
                    default = int(n.nvmlDeviceGetPowerManagementDefaultLimit(h))
                except n.NVMLError:
                    default = None
                out.append(
                    GpuDevice(
                        index=i,
                        uuid=_text(n.nvmlDeviceGetUUID(h)),
                        name=_text(n.nvmlDeviceGetName(h)),
                        limit_mw=int(n.nvmlDeviceGetPowerManagementLimit(h)),
                        min_mw=int(lo),
                        max_mw=int(hi),
                        default_mw=default,
                    )
                )
        except n.NVMLError as exc:
            raise ChannelError(f"NVML discovery failed: {exc}") from None
        return out

    def power_watts(self) -> dict[str, float]:
        """Current board power per GPU UUID (for telemetry); GPUs that cannot say are left out."""
        n = self.nvml
        out: dict[str, float] = {}
        if n is None:
            return out
        for dev in self.devices():
            try:
                out[dev.uuid] = n.nvmlDeviceGetPowerUsage(n.nvmlDeviceGetHandleByUUID(dev.uuid)) / 1000
            except n.NVMLError:
                continue
        return out

    # ------------------------------------------------------------- Channel

    def _handle(self, key: str) -> Any:
        if self.nvml is None:
            raise ChannelError("NVML is not initialised")
        try:
            return self.nvml.nvmlDeviceGetHandleByUUID(key)
        except self.nvml.NVMLError as exc:
            raise ChannelError(f"GPU {key}: {exc}") from None

    def read(self, key: str) -> int:
        h = self._handle(key)
        try:
            return int(self.nvml.nvmlDeviceGetPowerManagementLimit(h))
        except self.nvml.NVMLError as exc:
            raise ChannelError(f"GPU {key}: cannot read power limit: {exc}") from None

    def write(self, key: str, value: int | str) -> None:
        h = self._handle(key)
        try:
            self.nvml.nvmlDeviceSetPowerManagementLimit(h, int(value))
        except self.nvml.NVMLError as exc:
            raise ChannelError(f"GPU {key}: cannot set power limit to {value} mW: {exc}") from None
        log.debug("set GPU power limit", extra={"gpu": key, "mw": value})

    def why_not_writable(self, key: str) -> str | None:
        try:
            self._handle(key)
        except ChannelError as exc:
            return str(exc)
        return None  # NVML only tells by trying; a refusal is rolled back

    def exists(self, key: str) -> bool:
        try:
            self._handle(key)
        except ChannelError:
            return False
        return True
