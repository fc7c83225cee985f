"""``kubectl joulie``: the plan, one node's reasons and the fleet's power, from a terminal.

kubectl runs any ``kubectl-NAME`` executable on ``PATH`` as ``kubectl NAME``; the package
installs ``kubectl-joulie`` (:func:`joulie.kubectl.cli.main`). It reads the cluster the way
``joulie plan`` does (one list of nodes, pods and NodePowerProfiles, then the real planner),
or a snapshot, or the ``/plan`` of a running ``joulie serve`` (``--plan-url``, e.g. through
``kubectl port-forward``), and prints the ``/plan`` JSON in kubectl's shapes: a table, ``-o
wide``, ``-o json``, ``-o yaml``.

- :mod:`joulie.kubectl.source`: where the ``/plan`` JSON comes from;
- :mod:`joulie.kubectl.views`: what each command prints (pure functions of that JSON);
- :mod:`joulie.kubectl.cli`: flags and exit codes.
"""
