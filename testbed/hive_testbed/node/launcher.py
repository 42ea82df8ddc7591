"""Entry point run inside a pod's own mount namespace (``unshare --mount``) before the container command.

Bind-mounts the pod's volumes at their ``mountPath`` and the pod's hosts file over ``/etc/hosts``
(as the kubelet does), then ``exec``s the container command. Only this process tree sees the mounts.
Mount points that do not exist on the host are created as empty directories or files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    for mount in spec["mounts"]:
        source, target = Path(mount["source"]), Path(mount["target"])
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch(exist_ok=True)
        subprocess.run(["mount", "--bind", str(source), str(target)], check=True)
        if mount.get("readOnly"):
            subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
    if spec.get("cpus"):
        os.sched_setaffinity(0, spec["cpus"])  # inherited by the exec'd command
    os.chdir(spec.get("workingDir") or "/")
    os.execvpe(spec["argv"][0], spec["argv"], spec["env"])


if __name__ == "__main__":
    main()
