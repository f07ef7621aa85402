"""``kill -9`` at random moments of a rebuild: the output is always the complete old or new tree.

Two harnesses, both reused by tests/test_project_tree.py with fewer tries:

* ``cli``: ``python -m fpga_flow.cli build MODEL -o OUT`` rebuilt alternately from two models and killed
  (SIGKILL) after a random delay: half uniform over a whole build, half inside its writing and swap
  phase (after the "writing tb_data" progress line).
* ``direct``: a child process rewrites a 40-file tree with :mod:`fpga_flow.project_tree` in a tight loop
  (alternating two contents) and is killed at a random instant, so that many kills land inside the swap
  itself; ``--two-renames`` disables the atomic exchange to measure the fallback.

After each kill OUT is compared (file list + SHA-256 of every file) with the two reference trees, then
the start of the next build (``prepare_output``) must leave no temporaries. Prints the outcome counts.
Run: .venv/bin/python bench/bench_kill_rebuild.py [--tries 60] [--direct-tries 200]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import onnx

from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.project_tree import prepare_output, siblings

Snapshot = dict[str, str]


def snapshot(root: Path) -> Snapshot | None:
    """Every entry below ``root``: relative path -> SHA-256 of a file, or "dir"; None if ``root`` is missing."""
    if not root.is_dir():
        return None
    snap: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            snap[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                snap[os.path.relpath(p, root)] = hashlib.sha256(fh.read()).hexdigest()
    return snap


def classify(out: Path, trees: dict[str, Snapshot]) -> str:
    """Which reference tree ``out`` is: a key of ``trees``, "missing" or "corrupt"."""
    snap = snapshot(out)
    if snap is None:
        return "missing"
    return next((name for name, t in trees.items() if t == snap), "corrupt")


def make_models(where: Path) -> tuple[Path, Path]:
    """Two small models whose projects differ in every weight file."""
    a, b = where / "a.onnx", where / "b.onnx"
    layers = [LayerSpec(30, codebook_bits=3), LayerSpec(20), LayerSpec(10, relu=False, act=None)]
    onnx.save(sparse_mlp(48, layers, seed=2), a)
    onnx.save(sparse_mlp(48, layers, seed=3), b)
    return a, b


def _cli(model: Path, out: Path, stderr: int | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "fpga_flow.cli", "build", str(model), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=stderr if stderr is not None else subprocess.DEVNULL)


def _wait_for(path: Path, text: bytes, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if text in path.read_bytes():
            return
        time.sleep(0.002)


def kill_cli_rebuilds(tries: int, work: Path, seed: int = 0, log: Callable[[str], None] | None = None) -> Counter[str]:
    """``tries`` CLI rebuilds killed at random moments. Counts: "old"/"new" (what OUT was after the kill),
    "missing"/"corrupt" (failures), "finished" (the build ended before the kill), "temporaries"
    (hidden siblings right after a kill) and "left" (hidden siblings after the next build started)."""
    rng = random.Random(seed)
    models = make_models(work)
    refs = []
    for i, m in enumerate(models):  # reference trees, and the duration of a build and of its writing phase
        ref = work / f"ref{i}"
        err = work / f"ref{i}.err"
        with open(err, "wb") as fh:
            t0 = time.monotonic()
            proc = _cli(m, ref, fh.fileno())
            _wait_for(err, b"writing tb_data", proc)
            t_write = time.monotonic()
            if proc.wait() != 0:
                raise RuntimeError(f"reference build failed: {err.read_text()}")
        refs.append((snapshot(ref), time.monotonic() - t0, time.monotonic() - t_write))
    trees = {"0": refs[0][0], "1": refs[1][0]}
    t_build = min(r[1] for r in refs)  # the shorter one, so that nearly every try is really killed
    t_write = min(r[2] for r in refs)
    out = work / "prj" / "out"
    if _cli(models[0], out).wait() != 0:
        raise RuntimeError("first build failed")
    current = "0"
    counts: Counter[str] = Counter()
    for k in range(tries):
        target = "1" if current == "0" else "0"
        err = work / "try.err"
        with open(err, "wb") as fh:
            proc = _cli(models[int(target)], out, fh.fileno())
            if k % 2:
                _wait_for(err, b"writing tb_data", proc)
                delay = rng.uniform(0, t_write)
            else:
                delay = rng.uniform(0, t_build)
            time.sleep(delay)
            finished = proc.poll() is not None
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        state = classify(out, trees)
        counts["finished" if finished else "killed"] += 1
        counts[{"missing": "missing", "corrupt": "corrupt"}.get(state, "new" if state == target else "old")] += 1
        counts["temporaries"] += len(siblings(out))
        prepare_output(out)  # what the next build does first
        counts["left"] += len(siblings(out))
        if classify(out, trees) in trees:
            current = classify(out, trees)
        if log:
            log(f"try {k + 1}: delay {delay:.3f} s -> {state}")
    return counts


_CHILD = r"""
import sys
from pathlib import Path
from fpga_flow import project_tree as pt
out, two_renames = Path(sys.argv[1]), sys.argv[2] == "1"
if two_renames:
    pt.exchange = lambda a, b: False
i = 0
while True:
    if i == 1:
        print("ready", flush=True)  # OUT exists from here on
    v = i % 2
    pt.prepare_output(out)
    with pt.StagingTree.create(out) as st:
        for j in range(40):
            d = st.path / f"d{j % 4}"
            d.mkdir(exist_ok=True)
            (d / f"f{j}.txt").write_text(f"version {v} file {j}\n" * (j + 1))
        st.commit()
    i += 1
"""


def direct_trees() -> dict[str, Snapshot]:
    """The two trees the direct-mode child writes."""
    trees = {}
    for v in (0, 1):
        snap: Snapshot = {f"d{k}": "dir" for k in range(4)}
        for j in range(40):
            snap[f"d{j % 4}/f{j}.txt"] = hashlib.sha256((f"version {v} file {j}\n" * (j + 1)).encode()).hexdigest()
        trees[str(v)] = snap
    return trees


def kill_direct_rebuilds(tries: int, work: Path, seed: int = 0, two_renames: bool = False,
                         max_delay: float = 0.4) -> Counter[str]:
    """``tries`` children rewriting a tree in a loop, each killed after a random delay. Counts: "0"/"1"
    (OUT after the kill), "missing"/"corrupt", "restored" (missing and put back by the next
    ``prepare_output``), "temporaries" (hidden siblings right after a kill) and "left" (after the next
    ``prepare_output``)."""
    rng = random.Random(seed)
    trees = direct_trees()
    out = work / "direct" / "out"
    counts: Counter[str] = Counter()
    for _ in range(tries):
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(out), "1" if two_renames else "0"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        proc.stdout.readline()
        time.sleep(rng.uniform(0, max_delay))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        state = classify(out, trees)
        counts[state] += 1
        counts["temporaries"] += len(siblings(out))
        prepare_output(out)
        if state == "missing" and classify(out, trees) in trees:
            counts["restored"] += 1
        counts["left"] += len(siblings(out))
    return counts


def _show(title: str, counts: Counter[str]) -> None:
    print(f"{title}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tries", type=int, default=60, help="killed CLI rebuilds (default 60)")
    ap.add_argument("--direct-tries", type=int, default=200, help="killed tree-rewriting loops per scheme")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.monotonic()
        cli = kill_cli_rebuilds(args.tries, work, args.seed)
        _show(f"cli rebuilds killed at random ({args.tries} tries, {time.monotonic() - t0:.0f} s)", cli)
        t0 = time.monotonic()
        direct = kill_direct_rebuilds(args.direct_tries, work, args.seed)
        _show(f"direct swaps, atomic exchange ({args.direct_tries} tries, {time.monotonic() - t0:.0f} s)", direct)
        t0 = time.monotonic()
        two = kill_direct_rebuilds(args.direct_tries, work / "two", args.seed, two_renames=True)
        _show(f"direct swaps, two-rename fallback ({args.direct_tries} tries, {time.monotonic() - t0:.0f} s)", two)
    bad = cli["missing"] + cli["corrupt"] + cli["left"] + direct["missing"] + direct["corrupt"] + direct["left"]
    lost = two["missing"] - two["restored"] + two["corrupt"] + two["left"]
    print(f"never lost (cli + exchange): {'yes' if bad == 0 else f'NO ({bad} failures)'}; "
          f"fallback: missing right after {two['missing']} kills, restored by the next build: {two['restored']}, "
          f"lost or left: {lost}")


if __name__ == "__main__":
    main()
