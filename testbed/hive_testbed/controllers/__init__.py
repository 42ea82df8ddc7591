"""Controllers the test bed runs inside the API server process (what kube-controller-manager would do).

Only the kinds Hive's operator creates get a controller; see docs/testbed.md for what is not simulated.
"""
