"""A snapshot of what a cluster could leave on this machine (tests/deploy/test_cluster.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

from deploy import cluster


def machine_state() -> dict[str, Any]:
    """What a cluster could leave behind: mount points, network namespaces, links, iptables
    rules, the sysctls it changes, its processes."""
    mounts = sorted(line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines())
    netns = sorted(p.name for p in Path("/run/netns").glob("*")) if Path("/run/netns").exists() else []
    links = sorted(re.findall(r"^\d+: ([^:@]+)", subprocess.run(["ip", "-o", "link"], capture_output=True,
                                                                 text=True).stdout, re.MULTILINE))  # fmt: skip
    rules = sorted(
        re.sub(r"\[\d+:\d+\]", "", line)
        for line in subprocess.run(["iptables-save"], capture_output=True, text=True).stdout.splitlines()
        if not line.startswith("#")
    )
    sysctls = {name: cluster.sysctl_path(name).read_text().strip() for name in cluster.SYSCTLS}
    names = ("etcd", "kube-", "kubelet", "containerd")
    listing = subprocess.run(["ps", "-eo", "stat=,comm="], capture_output=True, text=True).stdout.splitlines()
    # A zombie has exited: only its parent's (here PID 1's) reaping is pending.
    processes = sorted(cmd for stat, cmd in (line.split(None, 1) for line in listing)
                       if cmd.startswith(names) and not stat.startswith("Z"))  # fmt: skip
    return {"mounts": mounts, "netns": netns, "links": links, "iptables": rules, "sysctls": sysctls,
            "processes": processes}  # fmt: skip
