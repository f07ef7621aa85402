"""How many torch CPU threads the flow uses: ``threads="auto"`` (the default) or a fixed count.

torch's intra-op threads busy-wait for each other at the end of every parallel operation. On a
machine where another process holds a core, a thread that is not scheduled keeps the others
spinning: a dense stage measured 26 s quiet and 646 s with 2 threads beside one busy process. So
``"auto"`` (:func:`choose_threads`) takes only the cores that are actually free:

* the cores this process may run on (``os.sched_getaffinity(0)``);
* minus the CPU the *other* processes use on them, measured over a short window
  (:func:`busy_cores`: ``/proc/stat`` of those cores, less this process's own CPU time over the
  same window; where ``/proc/stat`` is unreadable, the 1-minute ``/proc/loadavg``);
* a core counts as free when other processes use at most a quarter of it
  (``floor(cores - busy + 0.25)``), at least 1;
* and one thread for a small model (under :data:`SMALL_MODEL_MACS` multiply-accumulates per
  sample, :func:`macs_per_sample`; LeNet-300-100 has 0.27 M): its operations are too short for a
  second thread to pay for the synchronisation (LeNet-300-100 on Fashion-MNIST trains faster on one
  thread than on two even on an idle machine).

An explicit integer forces that count. The thread count changes the order of float summations
inside torch's kernels, so runs with different counts may differ in the last bits of the weights
(and hence, after training, in a few decisions); a fixed count is deterministic. The flow records
the count it used (``config.threads`` of the result, and the report).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

__all__ = ["SMALL_MODEL_MACS", "ThreadChoice", "Threads", "busy_cores", "choose_threads", "macs_per_sample"]

#: ``CompressConfig.threads``: a count, ``"auto"``, or ``None`` (leave torch's setting alone).
Threads = int | Literal["auto"] | None

#: Below this many multiply-accumulates per sample, ``"auto"`` uses one thread.
SMALL_MODEL_MACS = 1_000_000


@dataclass(frozen=True)
class ThreadChoice:
    """The thread count chosen and why (``reason`` is one line for the log)."""

    threads: int
    reason: str


def macs_per_sample(model: nn.Module, input_shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> int:
    """Multiply-accumulates of one forward of one sample through ``model``'s linear and conv layers
    (outputs x products per output, from a forward of a zero sample with hooks)."""
    from fpga_flow.compress.layers import CompressibleLayer

    total = 0

    def hook(mod: nn.Module, _inp: object, out: object) -> None:
        nonlocal total
        w = getattr(mod, "weight", None)
        if isinstance(out, torch.Tensor) and isinstance(w, torch.Tensor) and w.dim() >= 2:
            total += int(out[0].numel()) * math.prod(int(d) for d in w.shape[1:])

    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, CompressibleLayer)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def _cpu_times(cpus: set[int]) -> tuple[float, float] | None:
    """(busy, total) jiffies summed over ``cpus`` from ``/proc/stat``; None if unreadable."""
    try:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    busy = total = 0.0
    seen = 0
    for line in lines:
        head, _, rest = line.partition(" ")
        if not head.startswith("cpu") or head == "cpu":
            continue
        try:
            cpu = int(head[3:])
        except ValueError:
            continue
        if cpu not in cpus:
            continue
        v = [float(x) for x in rest.split()[:8]]  # user nice system idle iowait irq softirq steal
        if len(v) < 5:
            return None
        total += sum(v)
        busy += sum(v) - v[3] - v[4]
        seen += 1
    return (busy, total) if seen else None


def busy_cores(window: float = 0.25) -> float:
    """Cores of this process's affinity that *other* processes keep busy, over ``window`` seconds
    (``/proc/stat`` less this process's CPU time; the 1-minute load average where it is unreadable)."""
    cpus = set(os.sched_getaffinity(0))
    t0 = _cpu_times(cpus)
    if t0 is None:
        return max(0.0, os.getloadavg()[0])
    own0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(window)
    t1 = _cpu_times(cpus)
    own1, wall1 = time.process_time(), time.perf_counter()
    if t1 is None or t1[1] <= t0[1]:
        return max(0.0, os.getloadavg()[0])
    frac = (t1[0] - t0[0]) / (t1[1] - t0[1])  # busy fraction of those cores
    own = (own1 - own0) / max(wall1 - wall0, 1e-9)  # cores this process used meanwhile
    return max(0.0, frac * len(cpus) - own)


def choose_threads(setting: Threads, macs: int | None = None, busy: float | None = None) -> ThreadChoice:
    """The thread count for ``setting`` (see the module doc): an integer forces it; ``"auto"`` takes
    the free cores (``busy``: the other processes' load, measured by :func:`busy_cores` if None) and
    one thread when ``macs`` (per sample) is under :data:`SMALL_MODEL_MACS`; ``None`` keeps torch's."""
    if setting is None:
        return ThreadChoice(torch.get_num_threads(), "torch's setting")
    if setting != "auto":
        if isinstance(setting, bool) or not isinstance(setting, int) or setting < 1:
            raise ValueError(f"threads must be 'auto' or an integer >= 1, got {setting!r}")
        return ThreadChoice(setting, "forced")
    cores = len(os.sched_getaffinity(0))
    if macs is not None and macs < SMALL_MODEL_MACS:
        return ThreadChoice(1, f"auto: {macs / 1e6:.2f} M MACs per sample < {SMALL_MODEL_MACS / 1e6:.0f} M, "
                               "one thread")
    others = busy_cores() if busy is None else busy
    n = max(1, min(cores, math.floor(cores - others + 0.25)))
    return ThreadChoice(n, f"auto: {cores} cores, {others:.2f} busy with other processes")
