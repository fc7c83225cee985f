"""The Joulie node agent: makes a node's NodePowerProfile true on the hardware.

Layers, from pure to I/O:

- :mod:`agent.plan` turns a NodePowerProfile spec plus what the hardware reports into
  exact writes (cap computation, clamping, DVFS frequency, validation); no I/O.
- :mod:`agent.sysfs`, :mod:`agent.inventory`, :mod:`agent.backends` read and write the
  node's interfaces (powercap, cpufreq, NVML, HTTP actuators) transactionally.
- :mod:`agent.engine` runs one apply/verify pass and builds the status.
- :mod:`agent.kube` and :mod:`agent.run` connect it to Kubernetes (or to a file).
"""
