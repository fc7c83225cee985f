"""I/O backends the agent drives besides sysfs: NVML for GPUs, HTTP for remote actuators."""
