"""What a run ran on, and what it may allocate: recorded and checked by
:mod:`cvae.run.cli` and :mod:`cvae.run.bench`."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch


def available_memory(device: torch.device) -> int:
    """Bytes ``device`` can still allocate: free CUDA memory, or the RAM the kernel says
    is available (``MemAvailable``; without ``/proc/meminfo``, all of the RAM)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def machine(device: torch.device) -> dict:
    """What a measurement ran on: the device and its name, CPUs, threads, versions."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        cpuinfo = Path("/proc/cpuinfo")
        if cpuinfo.exists():
            for line in cpuinfo.read_text().splitlines():
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    return {
        "device": str(device),
        "device_name": name,
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }
