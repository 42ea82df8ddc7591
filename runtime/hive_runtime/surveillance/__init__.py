"""Leader-side market surveillance: statistics over the order flow that propose ordinary commands.

Nothing here runs inside the state machine (it uses numpy floats and its own windows); its output
is a list of commands (:class:`SurveillanceAlert`, :class:`SetSymbolHalt`) that the leader proposes
through the log like any other command, so the effect is replicated and audited.
"""

from hive_runtime.surveillance.monitor import SurveillanceConfig, SurveillanceMonitor

__all__ = ["SurveillanceConfig", "SurveillanceMonitor"]
