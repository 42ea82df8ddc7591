"""Mount and power-cut ``lazyfs``, the FUSE filesystem that forgets what was never synced.

Why this module exists: a real-process test cannot see a missing fsync by killing processes,
because the page cache of a real filesystem outlives them. ``lazyfs`` (Go, ``testbed/lazyfs``,
built by ``make k8s`` into the binary cache of :mod:`hive_testbed.k8sbuild`) passes a backing
directory through FUSE but keeps written bytes in memory until the file is fsynced or
fdatasynced. :meth:`LazyFs.power_cut` drops them (keeping a seeded prefix of each file's last
unsynced write, a torn write) and unmounts; :meth:`LazyFs.mount` brings the survivors back.

Mounting needs root and ``/dev/fuse`` (the test suite runs as root). Directory entries are not
modelled: creations, renames and unlinks are durable at once (see ``testbed/lazyfs/main.go``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from hive_testbed import k8sbuild


class LazyFsError(RuntimeError):
    """lazyfs could not be mounted or did not exit as asked; the message says why."""


@dataclasses.dataclass(frozen=True)
class LazyFsReport:
    """What lazyfs did with the unsynced data when it stopped."""

    event: str  # "power-cut" (dropped) or "flushed" (clean unmount)
    files: int  # files that held unsynced writes
    bytes: int  # unsynced bytes (dirty pages on a power cut, bytes written on a flush)
    torn_bytes: int  # bytes of last writes kept by the torn-write model


def unavailable_reason() -> str | None:
    """Why lazyfs cannot run on this machine, or ``None`` when it can."""
    if os.geteuid() != 0:
        return "mounting lazyfs needs root"
    if not Path("/dev/fuse").exists():
        return "/dev/fuse is missing"
    if not k8sbuild.lazyfs_is_built():
        return f"lazyfs is not built in {k8sbuild.bin_dir()}: run `make k8s`"
    return None


@dataclasses.dataclass
class LazyFs:
    """One lazyfs mount of ``backing`` at ``mountpoint``; a context manager that always unmounts."""

    backing: Path
    mountpoint: Path
    seed: int = 1
    torn: bool = True
    binary: Path = dataclasses.field(default_factory=lambda: k8sbuild.binary(k8sbuild.LAZYFS))
    _process: subprocess.Popen[bytes] | None = None

    def mount(self, *, within: float = 10.0) -> None:
        if self._process is not None:
            raise LazyFsError(f"lazyfs is already mounted at {self.mountpoint}")
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        command = [
            str(self.binary),
            f"-backing={self.backing}",
            f"-mount={self.mountpoint}",
            f"-seed={self.seed}",
            f"-torn={'true' if self.torn else 'false'}",
        ]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)
        deadline = time.monotonic() + within
        while not os.path.ismount(self.mountpoint):
            if self._process.poll() is not None:
                self._process = None
                raise LazyFsError(f"lazyfs exited before mounting: {self._log_tail()}")
            if time.monotonic() > deadline:
                self._stop(signal.SIGTERM)
                raise LazyFsError(f"lazyfs did not mount {self.mountpoint} within {within} s")
            time.sleep(0.02)

    @property
    def mounted(self) -> bool:
        return self._process is not None

    def power_cut(self) -> LazyFsReport:
        """Drop every unsynced write and unmount. Kill every writer first (the mount must be idle)."""
        return self._stop(signal.SIGUSR1)

    def unmount(self) -> LazyFsReport:
        """Flush unsynced writes (an orderly shutdown) and unmount."""
        return self._stop(signal.SIGTERM)

    def _stop(self, sig: int, *, within: float = 30.0) -> LazyFsReport:
        process = self._process
        if process is None:
            raise LazyFsError(f"lazyfs is not mounted at {self.mountpoint}")
        self._process = None
        process.send_signal(sig)
        try:
            stdout, _ = process.communicate(timeout=within)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            subprocess.run(["umount", "-l", str(self.mountpoint)], check=False)
            raise LazyFsError(
                f"lazyfs did not unmount {self.mountpoint} within {within} s: {self._log_tail()}"
            ) from None
        if process.returncode != 0:
            subprocess.run(["umount", "-l", str(self.mountpoint)], check=False)
            raise LazyFsError(f"lazyfs exited with {process.returncode} (mount busy?): {self._log_tail()}")
        lines = stdout.decode().strip().splitlines()
        if not lines:
            raise LazyFsError(f"lazyfs exited without a report: {self._log_tail()}")
        raw = json.loads(lines[-1])
        return LazyFsReport(
            event=raw["event"], files=raw["files"], bytes=raw["bytes"], torn_bytes=raw["tornBytes"]
        )

    @property
    def log_path(self) -> Path:
        """lazyfs's stderr (mount messages, errors), next to the backing directory."""
        return self.backing.with_name(self.backing.name + ".lazyfs.log")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> LazyFs:
        self.mount()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._process is not None:
            self.unmount()
