"""Container probes (HTTP GET, TCP socket, exec) and downward-API field values for the node agent."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp


def _port(value: Any, container: dict[str, Any]) -> int:
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return int(value)
    for port in container.get("ports") or []:
        if port.get("name") == value:
            return int(port["containerPort"])
    raise ValueError(f"unknown port {value!r}")


async def run_probe(
    probe: dict[str, Any],
    ip: str,
    container: dict[str, Any],
    *,
    pid: int | None = None,
    env: dict[str, str] | None = None,
) -> bool:
    """Run one probe; exec probes run in the container's mount namespace (``nsenter``) with its env."""
    timeout = float(probe.get("timeoutSeconds", 1))
    try:
        async with asyncio.timeout(timeout):
            if "httpGet" in probe:
                http = probe["httpGet"]
                scheme = str(http.get("scheme", "HTTP")).lower()
                port = _port(http["port"], container)
                url = f"{scheme}://{http.get('host') or ip}:{port}{http.get('path', '/')}"
                async with aiohttp.ClientSession() as session, session.get(url, ssl=False) as response:
                    return 200 <= response.status < 400
            if "tcpSocket" in probe:
                _, writer = await asyncio.open_connection(ip, _port(probe["tcpSocket"]["port"], container))
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
                return True
            if "exec" in probe:
                enter = ["nsenter", f"--mount=/proc/{pid}/ns/mnt", "--"] if pid is not None else []
                process = await asyncio.create_subprocess_exec(
                    *enter,
                    *probe["exec"]["command"],
                    env=env,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                return await process.wait() == 0
    except (TimeoutError, OSError, aiohttp.ClientError, ValueError):
        return False
    return False
