"""Scratch folders: where they go, and what a killed process left is removed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import scratch
from pipeline.scratch import remove_orphans, scratch_folder, scratch_root
from pipeline.settings import Settings


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def test_scratch_dir_setting_wins_and_is_private(tmp_path: Path) -> None:
    root = scratch_root(Settings(scratch_dir=str(tmp_path / "s"), workdir=str(tmp_path / "w")))
    assert root == tmp_path / "s"
    assert root.stat().st_mode & 0o777 == 0o700


def test_default_is_the_memory_file_system_where_there_is_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    monkeypatch.setattr(scratch, "MEMORY_FS", shm)
    root = scratch_root(Settings(scratch_dir="", workdir=str(tmp_path / "w")))
    assert root == shm / f"vividly-scratch-{os.getuid()}"


def test_default_falls_back_to_the_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scratch, "MEMORY_FS", tmp_path / "no-such-folder")
    root = scratch_root(Settings(scratch_dir="", workdir=str(tmp_path / "w")))
    assert root == tmp_path / "w" / "scratch"
    assert root.is_dir()


def test_a_stage_folder_is_named_after_its_process_and_removed_after(tmp_path: Path) -> None:
    with scratch_folder(tmp_path) as folder:
        assert Path(folder).name.startswith(f"{os.getpid()}-")
        (Path(folder) / "lesson.mp4").write_bytes(b"x")
    assert list(tmp_path.iterdir()) == []


def test_folders_of_dead_processes_are_removed_when_a_process_opens_the_root(
    tmp_path: Path,
) -> None:
    orphan = tmp_path / f"{dead_pid()}-abc"
    (orphan / "deep").mkdir(parents=True)
    (orphan / "deep" / "lesson.mp4").write_bytes(b"x" * 1000)
    mine = tmp_path / f"{os.getpid()}-def"
    mine.mkdir()
    other = tmp_path / "not-a-stage-folder"
    other.mkdir()
    scratch_root(Settings(scratch_dir=str(tmp_path)))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, other.name])
    assert remove_orphans(tmp_path) == 0


def test_only_the_orphans_that_went_are_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("abc", "def"):
        (tmp_path / f"{dead_pid()}-{name}").mkdir()
    real_rmtree = scratch.shutil.rmtree

    def rmtree_sparing_def(path: Path, ignore_errors: bool = False) -> None:
        if not str(path).endswith("-def"):  # as if it could not be removed
            real_rmtree(path, ignore_errors=ignore_errors)

    monkeypatch.setattr(scratch.shutil, "rmtree", rmtree_sparing_def)
    assert remove_orphans(tmp_path) == 1
    assert [p.name.split("-")[1] for p in tmp_path.iterdir()] == ["def"]


def test_a_name_someone_else_took_on_the_memory_file_system_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shm, elsewhere = tmp_path / "shm", tmp_path / "chosen-by-someone-else"
    shm.mkdir()
    elsewhere.mkdir()
    (shm / f"vividly-scratch-{os.getuid()}").symlink_to(elsewhere)
    monkeypatch.setattr(scratch, "MEMORY_FS", shm)
    root = scratch_root(Settings(scratch_dir="", workdir=str(tmp_path / "w")))
    assert root == tmp_path / "w" / "scratch"


def test_an_own_folder_left_open_to_others_is_made_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shm = tmp_path / "shm"
    (shm / f"vividly-scratch-{os.getuid()}").mkdir(parents=True)
    (shm / f"vividly-scratch-{os.getuid()}").chmod(0o777)
    monkeypatch.setattr(scratch, "MEMORY_FS", shm)
    root = scratch_root(Settings(scratch_dir="", workdir=str(tmp_path / "w")))
    assert root == shm / f"vividly-scratch-{os.getuid()}"
    assert root.stat().st_mode & 0o777 == 0o700
