"""The node agent: a kubelet stand-in that runs pods' containers as local processes on loopback IPs."""
