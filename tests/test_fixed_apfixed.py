"""Ground truth for :mod:`fpga_flow.fixed`: every mode against the real Xilinx ``ap_fixed`` headers.

One C++ harness (``tests/cpp/apfixed_harness.cpp``) is compiled with g++ against the headers that
hls4ml ships, for every (rounding, overflow) pair (7 x 4), signed and unsigned targets, and a set
of formats with ``I < 0``, ``I > W``, ``I == 0``, ``W = 1..2`` and wide ones. It converts

* doubles (edge values, ties at the target LSB and their float neighbours, huge and subnormal
  values, thousands of random dyadic and arbitrary doubles) with the double constructor,
* fixed-point values of wider/narrower signed and unsigned source types with ``T t(src)``,
* products and sums of operand pairs (``a * b``, ``a + b``), checking the result type too,

and writes the resulting mantissas. Each one must equal what ``fpga_flow.fixed`` computes: zero
mismatches allowed. The build (one object per overflow mode, compiled in parallel) happens once per
session and is cached in pytest's cache directory, keyed by the sources, the headers and the
compiler version.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from fpga_flow.backends.hls.spelling import O_MODE, Q_MODE, cpp_type
from fpga_flow.fixed import (
    FixedType,
    Overflow,
    Rounding,
    add_type,
    cast,
    fixed_add,
    fixed_mul,
    from_float,
    mul_type,
)
from fpga_flow.resources import ap_types_include_dir

HARNESS_SRC = Path(__file__).parent / "cpp" / "apfixed_harness.cpp"
# -O0: the ~1800 ap_fixed template instantiations compile 40% faster than with -O1 (the headers'
# class templates dominate); the harness output was checked identical, value for value, at -O1.
CXXFLAGS = ["-std=c++14", "-O0", "-w"]

# Order is the index the harness reports; the C++ spellings are the HLS backend's (Q_MODE, O_MODE).
QMODES = list(Rounding)  # TRN, TRN_ZERO, RND, RND_ZERO, RND_MIN_INF, RND_INF, RND_CONV
OMODES = list(Overflow)  # WRAP, SAT, SAT_ZERO, SAT_SYM

# Target formats (W, I); each is used signed and unsigned with all 28 mode pairs.
FORMATS: list[tuple[int, int]] = [
    (8, 3),
    (16, 6),
    (5, -2),  # I < 0
    (6, 9),  # I > W
    (12, 0),  # I == 0
    (24, 10),
    (2, 1),
    (1, 1),  # W == 1
    (60, 30),  # MAX_WIDTH: int64 headroom of the reference
    (10, -1064),  # LSB 2**-1074: subnormal doubles land on the grid
]
# Formats that also get a tiny source whose bits all lie below the target's LSB.
TINY_SOURCE_FORMATS = {(6, 9)}

# Operand pairs for a*b and a+b: (W, I, signed) each.
PAIRS: list[tuple[tuple[int, int, bool], tuple[int, int, bool]]] = [
    ((8, 3, True), (16, 6, True)),
    ((5, -2, True), (6, 9, False)),
    ((12, 0, False), (8, 3, True)),
    ((6, 9, False), (2, 1, False)),
    ((24, 10, True), (24, 10, False)),
    ((1, 1, True), (2, 3, True)),
    ((30, 5, True), (30, -3, True)),
    ((7, -3, False), (9, 12, True)),
    ((16, 16, True), (16, 16, False)),
    ((2, 1, True), (2, 1, True)),
    ((1, 1, False), (1, 0, True)),
]

N_RANDOM_DOUBLES = 3000  # per format (half dyadic at finer LSBs, half arbitrary)
N_RANDOM_MANTISSAS = 1200  # per (format, source)
N_RANDOM_PAIRS = 1500


# ----------------------------------------------------------------------------- inputs
def _range(w: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (w - 1)), (1 << (w - 1)) - 1) if signed else (0, (1 << w) - 1)


def sources_for(w: int, i: int) -> list[tuple[int, int, bool]]:
    """Source types cast into format (w, i): wider (more integer and fraction bits), signed and unsigned."""
    f = w - i
    shapes = []
    if w + 9 <= 60:
        shapes.append((w + 9, i + 3))  # rounds (6 more fraction bits) and overflows (3 more integer bits)
    else:
        shapes.append((w + 2, i + 1))  # up to 62 bits: |mantissa| < 2**62 is what fixed.cast handles
    if (w, i) in TINY_SOURCE_FORMATS:
        # 4 bits, all below the target LSB: the rounding bit is the source's sign bit. (A larger
        # shift trips an assertion inside ap_fixed's cast, so no real design can do it.)
        shapes.append((4, -f))
    return [(w2, i2, s) for (w2, i2) in shapes for s in (True, False)]


def _edge_points(w: int) -> list[int]:
    """Target mantissas (in target LSBs) where rounding/overflow behaviour changes."""
    smin, smax = _range(w, True)
    _, umax = _range(w, False)
    pts = {0, 1, -1, 2, -2, 3, -3, smin, smax, umax, -smax, smax // 2, smin // 2}
    pts |= {p + d for p in (smin, smax, umax, -umax) for d in (-2, -1, 1, 2)}
    pts |= {2 * umax, -2 * umax, 4 * umax + 3}
    return sorted(pts)


def double_inputs(w: int, i: int, rng: np.random.Generator) -> np.ndarray:
    f = w - i
    ks = np.array(_edge_points(w) + rng.integers(-(1 << min(w, 52)), 1 << min(w, 52), 40).tolist(), dtype=np.float64)
    offsets = np.array([0.0, 0.5, -0.5, 0.25, -0.25, 0.75])
    pts = np.ldexp(ks[:, None] + offsets[None, :], -f).ravel()
    with np.errstate(over="ignore"):
        near = np.concatenate([pts, np.nextafter(pts, np.inf), np.nextafter(pts, -np.inf)])
    tiny = np.ldexp(1.0, -1074)
    special = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        -0.5,
        1e10,
        -1e10,
        2.0**70,
        -(2.0**70),
        1e300,
        -1e300,
        np.finfo(np.float64).max,
        -np.finfo(np.float64).max,
        1e-300,
        -1e-300,
        tiny,
        -tiny,
        3 * tiny,
        -3 * tiny,
        2.0**-1022,
        -(2.0**-1022),
        2.0**-1022 - tiny,
        -(2.0**-1022 - tiny),
        2.0**-1023,
        2.0**-1023 + tiny,
        np.ldexp(1.0, i - 1),
        -np.ldexp(1.0, i - 1),
        np.ldexp(1.0, i),
        -np.ldexp(1.0, i),
    ]
    n = N_RANDOM_DOUBLES // 2
    # dyadic values 1..4 bits finer than the LSB: ties and near-ties are frequent
    extra = rng.integers(1, 5, n)
    bits = np.minimum(w + extra + 1, 52)
    m = rng.integers(-(1 << 52), 1 << 52, n) >> (52 - bits)
    dyadic = np.ldexp(m.astype(np.float64), -(f + extra))
    # arbitrary doubles: random magnitudes from far below the LSB to far above the range
    arbitrary = np.ldexp(rng.uniform(-1.0, 1.0, n), rng.integers(-f - 8, i + 6, n))
    x = np.concatenate([np.array(special), near, dyadic, arbitrary])
    assert np.all(np.isfinite(x))
    return x


def mantissa_inputs(w: int, i: int, src: tuple[int, int, bool], rng: np.random.Generator) -> np.ndarray:
    w2, i2, s2 = src
    lo2, hi2 = _range(w2, s2)
    sh = (w2 - i2) - (w - i)  # source LSBs per target LSB (log2)
    vals = {lo2, lo2 + 1, lo2 + 2, hi2, hi2 - 1, hi2 - 2, 0, 1, -1, 2, -2, hi2 // 2, lo2 // 2}
    ks = _edge_points(w) + rng.integers(-(1 << min(w + 1, 60)), 1 << min(w + 1, 60), 60).tolist()
    for k in ks:
        if sh > 0:
            base = k << sh
            half = 1 << (sh - 1)
            for d in (0, 1, -1, half, half - 1, half + 1, -half, -half + 1, -half - 1):
                vals.add(base + d)
        else:
            vals |= {(k >> -sh) + d for d in (-1, 0, 1)}
    edge = np.array(sorted(v for v in vals if lo2 <= v <= hi2), dtype=np.int64)
    full = rng.integers(lo2, hi2, N_RANDOM_MANTISSAS // 2, endpoint=True)
    # values near the target range with random low bits (rounding matters, overflow sometimes)
    span = max(0, min(w + 1 + max(sh, 0), w2 - 1))
    near = rng.integers(-(1 << span), 1 << span, N_RANDOM_MANTISSAS // 2)
    near = near[(near >= lo2) & (near <= hi2)]
    return np.concatenate([edge, full, near]).astype(np.int64)


def pair_inputs(a: tuple[int, int, bool], b: tuple[int, int, bool], rng: np.random.Generator) -> np.ndarray:
    """Operand mantissas for ``a * b`` and ``a + b``: all pairs of extremes, then random ones."""

    def edges(lo: int, hi: int) -> list[int]:
        return sorted(v for v in {lo, lo + 1, hi, hi - 1, 0, 1, -1} if lo <= v <= hi)

    ra, rb = _range(a[0], a[2]), _range(b[0], b[2])
    grid = np.array([(x, y) for x in edges(*ra) for y in edges(*rb)], dtype=np.int64)
    rnd = np.stack(
        [
            rng.integers(ra[0], ra[1], N_RANDOM_PAIRS, endpoint=True),
            rng.integers(rb[0], rb[1], N_RANDOM_PAIRS, endpoint=True),
        ],
        axis=1,
    )
    return np.concatenate([grid, rnd]).astype(np.int64)


# ----------------------------------------------------------------------------- build + run
def _cpp_type(w: int, i: int, signed: bool) -> str:
    return f"ap_{'' if signed else 'u'}fixed<{w}, {i}>"


def config_header() -> str:
    lines = ["// generated by tests/test_fixed_apfixed.py", "#pragma once"]
    fmt_entries = []
    for fi, (w, i) in enumerate(FORMATS):
        names = []
        for si, (w2, i2, s2) in enumerate(sources_for(w, i)):
            lines.append(f"typedef {_cpp_type(w2, i2, s2)} src_{fi}_{si};")
            names.append(f"src<{si}, src_{fi}_{si}>")
        lines.append(f"typedef srcs<{', '.join(names)} > srcs_{fi};")
        fmt_entries.append(f"X({fi}, {w}, {i}, srcs_{fi})")
    pair_entries = []
    for pi, (a, b) in enumerate(PAIRS):
        lines.append(f"typedef {_cpp_type(*a)} pair_a{pi};")
        lines.append(f"typedef {_cpp_type(*b)} pair_b{pi};")
        pair_entries.append(f"X({pi}, pair_a{pi}, pair_b{pi})")
    q = " ".join(f"X({k}, {Q_MODE[m]})" for k, m in enumerate(QMODES))
    o = " ".join(f"X({k}, {O_MODE[m]})" for k, m in enumerate(OMODES))
    lines += [
        f"#define HARNESS_FORMATS(X) {' '.join(fmt_entries)}",
        f"#define HARNESS_PAIRS(X) {' '.join(pair_entries)}",
        f"#define HARNESS_QMODES(X) {q}",
        f"#define HARNESS_OMODES(X) {o}",
    ]
    return "\n".join(lines) + "\n"


def _build_key(config: str) -> str:
    h = hashlib.sha256()
    h.update(HARNESS_SRC.read_bytes())
    h.update(config.encode())
    h.update(" ".join(CXXFLAGS).encode())
    h.update(subprocess.run(["g++", "--version"], capture_output=True, check=True).stdout)
    inc = ap_types_include_dir()
    for p in sorted(inc.rglob("*.h")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


def build_harness(build_dir: Path, config: str) -> tuple[Path, float]:
    """Compile and link the harness into ``build_dir``; returns (executable, wall seconds)."""
    import time

    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / "harness_config.h").write_text(config)
    inc = str(ap_types_include_dir())
    parts = [-1] + list(range(len(OMODES)))

    def compile_part(part: int) -> Path:
        obj = build_dir / f"part_{'main' if part < 0 else part}.o"
        cmd = [
            "g++",
            *CXXFLAGS,
            f"-I{inc}",
            f"-I{build_dir}",
            f"-DHARNESS_PART={part}",
            "-c",
            str(HARNESS_SRC),
            "-o",
            str(obj),
        ]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"g++ failed for part {part}:\n{' '.join(cmd)}\n{r.stderr[-4000:]}")
        return obj

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(len(parts), os.cpu_count() or 2)) as pool:
        objs = list(pool.map(compile_part, parts))
    exe = build_dir / "harness"
    r = subprocess.run(["g++", *[str(o) for o in objs], "-o", str(exe)], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"linking the harness failed:\n{r.stderr[-4000:]}")
    return exe, time.perf_counter() - t0


@dataclass
class Record:
    kind: int
    a: int
    b: int
    c: int
    d: int
    e: int
    values: np.ndarray


@dataclass
class HarnessRun:
    doubles: list[np.ndarray]
    sources: list[list[np.ndarray]]
    pairs: list[np.ndarray]
    records: list[Record]
    compile_seconds: float | None
    counts: Counter = field(default_factory=Counter)


def _parse(out: np.ndarray) -> list[Record]:
    recs = []
    pos = 0
    while pos < out.size:
        kind, a, b, c, d, e, n = (int(v) for v in out[pos : pos + 7])
        recs.append(Record(kind, a, b, c, d, e, out[pos + 7 : pos + 7 + n]))
        pos += 7 + n
    assert pos == out.size, "truncated harness output"
    return recs


@pytest.fixture(scope="module")
def harness(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> HarnessRun:
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed: cannot compile the ap_fixed ground-truth harness")
    config = config_header()
    key = _build_key(config)
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    root = cache.mkdir("apfixed_harness") if cache is not None else tmp_path_factory.mktemp("apfx")
    exe = root / key / "harness"
    compile_seconds = None
    if not exe.is_file():
        # build aside, then move into place (concurrent sessions never see half a build) and
        # drop the builds of older sources
        tmp = Path(tempfile.mkdtemp(prefix=f"{key}.", dir=root))
        _, compile_seconds = build_harness(tmp, config)
        try:
            tmp.rename(root / key)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another session got there first
        for old in root.iterdir():
            if old.is_dir() and old.name != key and "." not in old.name:
                shutil.rmtree(old, ignore_errors=True)

    data = tmp_path_factory.mktemp("apfixed_data")
    rng = np.random.default_rng(20240611)
    doubles, sources = [], []
    for fi, (w, i) in enumerate(FORMATS):
        x = double_inputs(w, i, rng)
        doubles.append(x)
        (data / f"dbl_{fi}.txt").write_text("\n".join(f"{u:016x}" for u in x.view(np.uint64).tolist()) + "\n")
        per = []
        for si, src in enumerate(sources_for(w, i)):
            m = mantissa_inputs(w, i, src, rng)
            per.append(m)
            (data / f"src_{fi}_{si}.txt").write_text("\n".join(map(str, m.tolist())) + "\n")
        sources.append(per)
    pairs = []
    for pi, (a, b) in enumerate(PAIRS):
        ab = pair_inputs(a, b, rng)
        pairs.append(ab)
        (data / f"pair_{pi}.txt").write_text("\n".join(f"{x} {y}" for x, y in ab.tolist()) + "\n")
    r = subprocess.run([str(exe), str(data)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"harness failed ({r.returncode}):\n{r.stderr[-4000:]}"
    records = _parse(np.fromfile(data / "out.bin", dtype=np.int64))
    return HarnessRun(doubles, sources, pairs, records, compile_seconds)


# ----------------------------------------------------------------------------- comparison
def _target(rec: Record) -> FixedType:
    w, i = FORMATS[rec.a]
    return FixedType(w, i, bool(rec.b), QMODES[rec.c], OMODES[rec.d])


def _mismatches(expected: np.ndarray, got: np.ndarray, describe) -> tuple[list[str], int]:
    assert expected.shape == got.shape, (expected.shape, got.shape)
    bad = np.flatnonzero(expected != got)
    return [describe(int(j), int(expected[j]), int(got[j])) for j in bad[:3]], int(bad.size)


def _report(capsys: pytest.CaptureFixture, what: str, counts: Counter) -> None:
    per_mode = sorted(set(counts.values()))
    total = sum(counts.values())
    with capsys.disabled():
        print(
            f"\n[ap_fixed ground truth] {what}: {total} values compared over {len(counts)} "
            f"(rounding, overflow) pairs ({'/'.join(map(str, per_mode))} per pair), 0 mismatches"
        )


def test_harness_covers_every_mode_and_format(harness: HarnessRun) -> None:
    seen = {(r.kind, r.a, r.b, r.c, r.d, r.e) for r in harness.records}
    for fi, (w, i) in enumerate(FORMATS):
        for s in (0, 1):
            for q in range(len(QMODES)):
                for o in range(len(OMODES)):
                    assert (0, fi, s, q, o, -1) in seen
                    for si in range(len(sources_for(w, i))):
                        assert (1, fi, s, q, o, si) in seen
    assert sum(r.kind in (2, 3) for r in harness.records) == 2 * len(PAIRS)


def test_double_to_fixed_matches_ap_fixed(harness: HarnessRun, capsys: pytest.CaptureFixture) -> None:
    counts: Counter = Counter()
    failures: list[str] = []
    n_bad = 0
    for rec in harness.records:
        if rec.kind != 0:
            continue
        t = _target(rec)
        x = harness.doubles[rec.a]
        exp = from_float(x, t)

        def describe(j: int, e: int, g: int, t=t, x=x) -> str:
            return f"{cpp_type(t)}({x[j]!r} = {float(x[j]).hex()}): fpga_flow {e}, ap_fixed {g}"

        msgs, nb = _mismatches(exp, rec.values, describe)
        failures += msgs
        n_bad += nb
        counts[(t.rounding.name, t.overflow.name)] += x.size
    assert len(counts) == 28
    assert n_bad == 0, f"{n_bad} double->fixed mismatches, first ones:\n" + "\n".join(failures[:12])
    _report(capsys, "double -> fixed", counts)


def test_fixed_to_fixed_matches_ap_fixed(harness: HarnessRun, capsys: pytest.CaptureFixture) -> None:
    counts: Counter = Counter()
    failures: list[str] = []
    n_bad = 0
    for rec in harness.records:
        if rec.kind != 1:
            continue
        t = _target(rec)
        w, i = FORMATS[rec.a]
        w2, i2, s2 = sources_for(w, i)[rec.e]
        m = harness.sources[rec.a][rec.e]
        exp = cast(m, w2 - i2, t, src_signed=s2)
        src = _cpp_type(w2, i2, s2)

        def describe(j: int, e: int, g: int, t=t, m=m, src=src) -> str:
            return f"{cpp_type(t)}({src} mantissa {int(m[j])}): fpga_flow {e}, ap_fixed {g}"

        msgs, nb = _mismatches(exp, rec.values, describe)
        failures += msgs
        n_bad += nb
        counts[(t.rounding.name, t.overflow.name)] += m.size
    assert len(counts) == 28
    assert n_bad == 0, f"{n_bad} fixed->fixed mismatches, first ones:\n" + "\n".join(failures[:12])
    _report(capsys, "fixed -> fixed", counts)


def test_products_and_sums_match_ap_fixed(harness: HarnessRun, capsys: pytest.CaptureFixture) -> None:
    n = 0
    for rec in harness.records:
        if rec.kind not in (2, 3):
            continue
        (wa, ia, sa), (wb, ib, sb) = PAIRS[rec.a]
        ta, tb = FixedType(wa, ia, sa), FixedType(wb, ib, sb)
        ab = harness.pairs[rec.a]
        op, type_fn, sym = (fixed_mul, mul_type, "*") if rec.kind == 2 else (fixed_add, add_type, "+")
        rt = type_fn(ta, tb)
        assert (rt.width, rt.integer, rt.signed) == (rec.b, rec.c, bool(rec.d)), (
            f"{cpp_type(ta)} {sym} {cpp_type(tb)}: fpga_flow gives {cpp_type(rt)}, "
            f"ap_fixed gives {_cpp_type(rec.b, rec.c, bool(rec.d))}"
        )
        got_vals, got_type = op(ab[:, 0], ta, ab[:, 1], tb)
        assert got_type == rt
        bad = np.flatnonzero(got_vals != rec.values)
        assert bad.size == 0, f"{ta} {sym} {tb}: " + "; ".join(
            f"{int(ab[j, 0])} {sym} {int(ab[j, 1])}: fpga_flow {int(got_vals[j])}, ap_fixed {int(rec.values[j])}"
            for j in bad[:5]
        )
        n += ab.shape[0]
    with capsys.disabled():
        print(
            f"\n[ap_fixed ground truth] products and sums: {n} values compared over {len(PAIRS)} type pairs, "
            "result types and values equal"
        )
    if harness.compile_seconds is not None:
        with capsys.disabled():
            print(f"[ap_fixed ground truth] harness compiled in {harness.compile_seconds:.1f} s")
