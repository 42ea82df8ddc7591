"""The Kubernetes API emulator: kmock's HTTP scaffold extended with the semantics Hive's operator relies on.

Split by concept: resource registry, object store with a global resourceVersion, patching,
schema validation, selectors, garbage collection, and the HTTP routing that ties them together.
"""
