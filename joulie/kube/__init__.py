"""The Kubernetes adapter every component shares: configuration, raw-JSON requests, list+watch.

The labeller (nodes, pods, NodePowerProfiles), the agent (its own NodePowerProfile and
the TelemetryProfiles) and ``joulie plan`` all connect and watch through this one
implementation, so they agree on how a kubeconfig is found and how a broken watch
recovers.
"""
