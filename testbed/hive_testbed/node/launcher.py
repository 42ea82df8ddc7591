"""Entry point run inside a pod's own mount namespace (``unshare --mount``) before the container command.

Bind-mounts the pod's volumes at their ``mountPath`` and the pod's hosts file over ``/etc/hosts``
(as the kubelet does), then ``exec``s the container command. Only this process tree sees the mounts.
Mount points that do not exist on the host are created as empty directories or files.

Containers here share the host's root filesystem, so a volume mounted over a host directory (an
emptyDir at ``/tmp``, say) would hide whatever lives below it: the interpreter and the code the
container runs, or the sources of later mounts. Every source and every path listed as ``keep``
is therefore opened before anything is mounted, and a kept path found under a new mount is bound
back in place inside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _bind(handle: int, target: Path, *, read_only: bool = False) -> None:
    source = f"/proc/{os.getpid()}/fd/{handle}"
    if os.path.isdir(source):
        target.mkdir(parents=True, exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch(exist_ok=True)
    # --no-canonicalize: the kernel follows the fd itself (mount(8) would resolve its path text,
    # which may now point inside a volume mounted over it).
    subprocess.run(["mount", "--no-canonicalize", "--bind", source, str(target)], check=True)
    if read_only:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    sources = [os.open(mount["source"], os.O_PATH) for mount in spec["mounts"]]
    keep = {Path(path): os.open(path, os.O_PATH) for path in spec.get("keep", []) if os.path.exists(path)}
    for handle, mount in zip(sources, spec["mounts"], strict=True):
        target = Path(mount["target"])
        _bind(handle, target, read_only=bool(mount.get("readOnly")))
        for path, kept in keep.items():
            if path != target and path.is_relative_to(target):
                _bind(kept, path)
    for handle in [*sources, *keep.values()]:
        os.close(handle)
    if spec.get("cpus"):
        os.sched_setaffinity(0, spec["cpus"])  # inherited by the exec'd command
    os.chdir(spec.get("workingDir") or "/")
    os.execvpe(spec["argv"][0], spec["argv"], spec["env"])


if __name__ == "__main__":
    main()
