"""``fpga-flow boards``: list the known boards."""

from __future__ import annotations

import argparse
import json

from fpga_flow.boards import list_boards


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    boards = list_boards()
    if args.json:
        print(json.dumps([b.__dict__ for b in boards], indent=2))
        return 0
    print(f"{'board':<14} {'part':<22} {'clock':>6} {'LUT':>8} {'FF':>8} {'DSP':>6} {'BRAM36':>7} {'URAM':>5}  PS")
    for b in boards:
        print(
            f"{b.name:<14} {b.part:<22} {b.clock_mhz:>4g}MHz {b.lut:>8} {b.ff:>8} {b.dsp:>6} {b.bram36:>7} "
            f"{b.uram:>5}  {b.ps or '-'}"
        )
    return 0
