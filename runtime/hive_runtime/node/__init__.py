"""The runtime node: the asyncio shell that ties the Raft core, durable storage, the mutual-TLS
transport and the trading state machine into the program each pod runs."""
