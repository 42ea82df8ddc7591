"""A Docker-free Kubernetes test bed: API emulator, controllers and a node agent running pods as processes.

Development and test tool only; neither the operator nor the runtime imports it.
"""
