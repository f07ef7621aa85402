"""A rebuild never loses the project: faults at each step of the swap, crashes, stale temporaries, OS errors,
and ``kill -9`` at random moments (fpga_flow.project_tree, used by pipeline.build)."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest

from bench.bench_kill_rebuild import kill_cli_rebuilds, kill_direct_rebuilds, snapshot
from fpga_flow.cli import main
from fpga_flow.errors import FlowError
from fpga_flow.examples import LayerSpec, sparse_mlp
from fpga_flow.pipeline import BuildOptions, build

OPTS = BuildOptions(n_stimulus=2)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    layers = [LayerSpec(12, codebook_bits=2), LayerSpec(6, relu=False, act=None)]
    paths = {"a": d / "a.onnx", "b": d / "b.onnx"}
    onnx.save(sparse_mlp(24, layers, seed=4), paths["a"])
    onnx.save(sparse_mlp(24, layers, seed=5), paths["b"])
    return paths


@pytest.fixture(scope="module")
def trees(models, tmp_path_factory) -> dict[str, dict[str, str]]:
    """The complete trees of models a and b (file list + SHA-256 of each file)."""
    d = tmp_path_factory.mktemp("refs")
    snaps = {}
    for k, m in models.items():
        build(m, d / k, OPTS)
        snap = snapshot(d / k)
        assert snap is not None
        snaps[k] = snap
    assert snaps["a"] != snaps["b"]
    return snaps


def _hidden(out: Path) -> list[str]:
    return sorted(n for n in os.listdir(out.parent) if n.startswith(f".{out.name}."))


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.fixture
def out_a(models, trees, tmp_path) -> Path:
    """A project of model a, to be rebuilt from model b."""
    out = tmp_path / "prj" / "out"
    build(models["a"], out, OPTS)
    assert snapshot(out) == trees["a"]
    return out


def _fail_renames(monkeypatch, out: Path, which: str) -> None:
    """os.rename raises EIO on the rename that moves the old tree away ("first") or the new one in ("second")."""
    real = os.rename

    def rename(src, dst, *a, **k):
        staged = Path(src).name.startswith(f".{out.name}.tmp-")
        if (which == "first" and Path(src) == out) or (which == "second" and Path(dst) == out and staged):
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(src))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "rename", rename)


# ---------------------------------------------------------------------------- faults in the swap
@pytest.mark.parametrize("exchange", ["atomic", "two-renames"])
def test_failing_final_rename_never_loses_the_project(models, trees, out_a, monkeypatch, exchange):
    """Today's code renamed OUT away and then failed to rename the new tree in: OUT was gone."""
    if exchange == "two-renames":
        monkeypatch.setattr("fpga_flow.project_tree.exchange", lambda a, b: False)
    _fail_renames(monkeypatch, out_a, "second")
    try:
        build(models["b"], out_a, OPTS)
    except FlowError as e:
        assert "cannot write the project" in str(e) and "Input/output error" in str(e)
        assert snapshot(out_a) == trees["a"]
    else:  # the atomic exchange does not use rename(2)
        assert exchange == "atomic" and snapshot(out_a) == trees["b"]
    assert _hidden(out_a) == []


@pytest.mark.parametrize("step", ["exchange", "first", "second"])
def test_fault_at_each_step_of_the_swap_keeps_the_old_tree(models, trees, out_a, monkeypatch, step):
    if step == "exchange":
        def broken(a, b):
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(a))
        monkeypatch.setattr("fpga_flow.project_tree.exchange", broken)
    else:
        monkeypatch.setattr("fpga_flow.project_tree.exchange", lambda a, b: False)
        _fail_renames(monkeypatch, out_a, step)
    with pytest.raises(FlowError, match=f"cannot write the project {out_a}: .*Input/output error; the device"):
        build(models["b"], out_a, OPTS)
    assert snapshot(out_a) == trees["a"]
    assert _hidden(out_a) == []


def test_interrupt_during_the_swap_keeps_the_old_tree(models, trees, out_a, monkeypatch):
    monkeypatch.setattr("fpga_flow.project_tree.exchange", lambda a, b: False)
    real = os.rename

    def rename(src, dst, *a, **k):
        if Path(dst) == out_a and Path(src).name.startswith(".out.tmp-"):
            raise KeyboardInterrupt
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        build(models["b"], out_a, OPTS)
    assert snapshot(out_a) == trees["a"]
    assert _hidden(out_a) == []


def test_exchange_swaps_two_folders_atomically(tmp_path):
    from fpga_flow.project_tree import exchange

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    (tmp_path / "b" / "x").write_text("b")
    if sys.platform != "linux":
        pytest.skip("renameat2 is Linux")
    assert exchange(tmp_path / "a", tmp_path / "b") is True
    assert (tmp_path / "a" / "x").read_text() == "b" and (tmp_path / "b" / "x").read_text() == "a"
    with pytest.raises(FileNotFoundError):
        exchange(tmp_path / "a", tmp_path / "missing")


# ---------------------------------------------------------------------------- crashes of earlier builds
def _crash_between_renames(out: Path) -> None:
    """The state today's code left when killed between its two renames, plus partial staging folders."""
    old = out.with_name(f".{out.name}.old-{_dead_pid()}")
    os.rename(out, old)
    legacy = out.with_name(f".{out.name}.tmp-ab12cd_e")
    (legacy / "hls").mkdir(parents=True)
    (legacy / "hls" / "half.cpp").write_text("// half")
    os.utime(legacy, (time.time() - 7200, time.time() - 7200))
    partial = out.with_name(f".{out.name}.tmp-{_dead_pid()}-0123abcd")
    partial.mkdir()
    (partial / "report.json").write_text("{")


def test_project_lost_by_a_killed_build_is_restored_before_a_failing_rebuild(models, trees, out_a, monkeypatch):
    _crash_between_renames(out_a)
    assert not out_a.exists()

    def disk_full(design, where):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(where / "top.v"))

    monkeypatch.setattr("fpga_flow.backends.rtl.emit_rtl", disk_full)
    with pytest.raises(FlowError, match=r"top\.v: No space left on device; the disk is full: free some space"):
        build(models["b"], out_a, OPTS)
    assert snapshot(out_a) == trees["a"]
    assert _hidden(out_a) == []


def test_rebuild_after_a_killed_build_leaves_nothing_behind(models, trees, out_a, capsys):
    _crash_between_renames(out_a)
    assert main(["build", str(models["b"]), "-o", str(out_a), "--samples", "2"]) == 0
    err = capsys.readouterr().err
    assert f"restored {out_a} from" in err and "removed 2 temporary folder(s) of killed builds" in err
    assert snapshot(out_a) == trees["b"]
    assert _hidden(out_a) == []


def test_stale_temporaries_of_dead_builds_are_removed_live_ones_kept(models, trees, out_a):
    dead, mine = _dead_pid(), os.getpid()
    names = {
        f".out.tmp-{dead}-00000001": "dead",  # a killed build's staging folder
        f".out.old-{dead}-00000002": "dead",  # a complete old tree, while OUT exists
        f".out.old-{dead}": "dead",  # today's naming
        f".out.tmp-{mine}-00000003": "live",  # a build running now (this process)
        ".out.tmp-youngone": "live",  # an older fpga-flow's staging folder, maybe still writing
        ".outer.tmp-12-00000004": "other",  # another project's
    }
    for n in names:
        (out_a.parent / n).mkdir()
        (out_a.parent / n / "f").write_text(n)
    build(models["b"], out_a, OPTS)
    assert snapshot(out_a) == trees["b"]
    assert sorted(os.listdir(out_a.parent)) == sorted(["out"] + [n for n, k in names.items() if k != "dead"])


def test_a_staging_folder_locked_by_a_live_builder_is_not_stale(tmp_path):
    from fpga_flow.project_tree import StagingTree, clean_stale, siblings

    out = tmp_path / "out"
    with StagingTree.create(out) as st:
        # the pid in the name is dead (e.g. a builder in another pid namespace): the flock still protects it
        renamed = st.path.with_name(f".out.tmp-{_dead_pid()}-89abcdef")
        os.rename(st.path, renamed)
        assert [s.is_stale() for s in siblings(out)] == [False]
        assert clean_stale(out) == [] and renamed.is_dir()
        st.path = renamed
    assert not renamed.exists()  # left the context without a commit: discarded
    assert _hidden(out) == []


# ---------------------------------------------------------------------------- OS errors are messages
def test_output_under_a_file_is_a_one_line_error(models, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    for out in (tmp_path / "afile" / "out", tmp_path / "afile" / "sub" / "out"):
        assert main(["build", str(models["a"]), "-o", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1] == f"fpga-flow build: error: cannot write the project {out}: {tmp_path / 'afile'} is a file, " \
                          "not a folder; choose another -o"
    assert sorted(os.listdir(tmp_path)) == ["afile"]


def test_read_only_parent_is_refused_before_the_build(models, tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if Path(p) == ro else real(p, mode, **k))
    with pytest.raises(FlowError, match=f"the folder {ro} is not writable"):
        build(models["a"], ro / "out", OPTS)
    assert os.listdir(ro) == []


@pytest.mark.parametrize("code, advice", [(errno.EROFS, "the file system is read-only: choose another -o"),
                                          (errno.ENOSPC, "the disk is full"),
                                          (errno.EACCES, "permission denied: choose a folder you can write")])
def test_os_error_creating_the_staging_folder_is_a_message(models, trees, out_a, monkeypatch, code, advice):
    real = os.mkdir

    def mkdir(path, *a, **k):
        if Path(path).name.startswith(".out.tmp-"):
            raise OSError(code, os.strerror(code), str(path))
        return real(path, *a, **k)

    monkeypatch.setattr(os, "mkdir", mkdir)
    with pytest.raises(FlowError, match=f"cannot write the project {out_a}: .*{os.strerror(code)}; {advice}"):
        build(models["b"], out_a, OPTS)
    assert snapshot(out_a) == trees["a"]
    assert _hidden(out_a) == []


def test_disk_full_while_writing_keeps_the_old_tree(models, trees, out_a, monkeypatch, capsys):
    def disk_full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("fpga_flow.backends.board.emit_board", disk_full)
    assert main(["build", str(models["b"]), "-o", str(out_a), "--samples", "2"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (f"fpga-flow build: error: cannot write the project {out_a}: {out_a}: No space left on device; "
                    "the disk is full: free some space or choose another -o")
    assert snapshot(out_a) == trees["a"]
    assert _hidden(out_a) == []


def test_an_os_error_that_is_a_bug_still_raises_and_cleans_up(models, trees, out_a, monkeypatch):
    def missing(*a, **k):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "templates/x.j2")

    monkeypatch.setattr("fpga_flow.backends.board.emit_board", missing)
    with pytest.raises(FileNotFoundError):
        build(models["b"], out_a, OPTS)
    assert snapshot(out_a) == trees["a"]
    assert _hidden(out_a) == []


# ---------------------------------------------------------------------------- kill -9
def test_kill_9_during_cli_rebuilds_never_loses_the_project(tmp_path):
    """8 CLI rebuilds killed at random moments (bench/bench_kill_rebuild.py does >= 50)."""
    counts = kill_cli_rebuilds(8, tmp_path, seed=1)
    assert counts["missing"] == counts["corrupt"] == 0, counts
    assert counts["old"] + counts["new"] == 8, counts
    assert counts["left"] == 0, counts  # the next build removed every temporary of the killed ones


def test_kill_9_during_the_swap_itself_never_loses_the_tree(tmp_path):
    counts = kill_direct_rebuilds(10, tmp_path, seed=1, max_delay=0.2)
    assert counts["0"] + counts["1"] == 10 and counts["left"] == 0, counts
