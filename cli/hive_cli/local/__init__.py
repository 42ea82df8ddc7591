"""A local Hive cluster: real runtime processes on loopback with a throwaway CA (``hive local``)."""
