"""The real control plane of the test bed: certificates, component command lines, the launcher."""
