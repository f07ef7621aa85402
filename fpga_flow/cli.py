"""``fpga-flow`` command line. Each sub-command lives in ``fpga_flow/commands/<name>.py`` with
``add_arguments(parser)`` and ``run(args) -> int``; they are imported lazily so that building
hardware never imports torch."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType

from fpga_flow.errors import FlowError

__all__ = ["main"]

#: sub-command -> (module under fpga_flow.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "inspect": ("inspect", "per-layer shapes, sparsity, fixed-point types and storage of an ONNX model"),
    "run": ("run", "run the bit-exact fixed-point reference on a .npy input"),
    "boards": ("boards", "list the known boards"),
    "build": ("build", "compile an ONNX model into an HLS/RTL/board project"),
    "csim": ("csim", "compile and run the C simulation of a built project with g++"),
    "cosim": ("cosim", "run the RTL of a built project in a cocotb testbench (Verilator or Icarus)"),
    "synth": ("synth", "synthesize the generated Verilog with yosys and report resources"),
    "sweep": ("sweep", "design-space exploration on Dask: many builds, cached, with a Pareto report"),
    "compress": ("compress", "prune, quantize and weight-share a model in PyTorch, export ONNX"),
}


def _parser(load: set[str]) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fpga-flow",
        description="Compressed neural networks to bit-exact FPGA designs (HLS C++, Verilog, board projects).",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_, description=help_)
        if name in load:
            _module(module).add_arguments(sp)
        else:
            sp.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return p


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"fpga_flow.commands.{name}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fpga-flow`` console script; returns the exit code.

    Ctrl-C at any moment is one line and exit 130; a closed pipe (``fpga-flow cosim OUT | head -1``)
    ends quietly with exit 141, as a shell tool does."""
    try:
        code = _main(argv)
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        print("fpga-flow: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        try:  # nothing more reaches the closed pipe, not even the flush at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # stdout is not a file (captured): nothing to redirect
            pass
        return 141


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cmd = next((a for a in argv if not a.startswith("-")), None)
    load = {COMMANDS[cmd][0]} if cmd in COMMANDS else set()
    parser = _parser({cmd} if cmd in COMMANDS else set())
    del load
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(_module(COMMANDS[args.command][0]).run(args) or 0)
    except FlowError as e:
        print(f"fpga-flow {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
