"""Atomic writes: exclusive creation under a race, and leftovers of killed writes removed."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from skdeep.utils.files import (
    MANIFEST,
    _temporary_name,
    atomic_write,
    remove_stale_temporaries,
    write_output_files,
)

ROUNDS = 100

# Two of these race for the same new files, round after round: each round starts at the same
# instant in both, and each write is large enough (1 MB, synced) for the two to overlap.
RACER = """
import sys, time
from pathlib import Path
from skdeep.utils.files import atomic_write

folder, name, start, rounds = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
payload = name.encode() * (2**16 // len(name))
won = []
for i in range(rounds):
    time.sleep(max(0.0, start + 0.02 * i - time.time()))
    try:
        with atomic_write(folder / f"round-{i}.bin", overwrite=False) as file:
            file.write(payload)
        won.append(i)
    except FileExistsError:
        pass
print(",".join(map(str, won)))
"""


def _racer(folder: Path, name: str, start: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    command = [sys.executable, "-c", RACER, str(folder), name, str(start), str(ROUNDS)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)


@pytest.mark.timeout(120)
def test_two_processes_racing_for_a_new_file_never_both_write_it(tmp_path):
    start = time.time() + 3  # both interpreters are up by then
    racers = [_racer(tmp_path, name, start) for name in ("alpha", "omega")]
    won = []
    for racer in racers:
        out, _ = racer.communicate(timeout=100)
        assert racer.returncode == 0
        won.append({int(i) for i in out.strip().split(",") if i})
    # Every round has exactly one winner, whose bytes are the file's.
    assert won[0].isdisjoint(won[1])
    assert won[0] | won[1] == set(range(ROUNDS))
    for i in range(ROUNDS):
        winner = "alpha" if i in won[0] else "omega"
        assert (tmp_path / f"round-{i}.bin").read_bytes()[:5] == winner.encode()
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_file_that_appears_at_the_last_instant_is_kept(tmp_path, monkeypatch):
    # Another writer wins the race just before this one puts its file in place (after any
    # check this one could make): an exclusive create must notice it.
    target = tmp_path / "new.bin"

    def rival_first(real):
        def commit(src, dst, *args, **kwargs):
            if Path(dst) == target and not target.exists():
                target.write_bytes(b"rival")
            return real(src, dst, *args, **kwargs)

        return commit

    monkeypatch.setattr(os, "replace", rival_first(os.replace))
    monkeypatch.setattr(os, "link", rival_first(os.link))
    with pytest.raises(FileExistsError, match="appeared while it was being written"):
        with atomic_write(target, overwrite=False) as file:
            file.write(b"mine")
    assert target.read_bytes() == b"rival"
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_existing_file_is_never_replaced_without_overwrite(tmp_path):
    target = tmp_path / "kept.bin"
    target.write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="appeared while it was being written"):
        with atomic_write(target, overwrite=False) as file:
            file.write(b"theirs")
    assert target.read_bytes() == b"mine"
    assert not list(tmp_path.glob(".*.tmp"))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_next_write_removes_what_killed_writes_left(tmp_path):
    target = tmp_path / "model.bin"
    ours = _temporary_name(target)  # a write in progress in this process
    ours.write_bytes(b"in progress")
    dead = _temporary_name(target)
    dead = dead.with_name(dead.name.replace(f"-{os.getpid()}-", f"-{_dead_pid()}-"))
    dead.write_bytes(b"half a model")
    other_file = tmp_path / f".other.bin{dead.name[len('.model.bin') :]}"
    other_file.write_bytes(b"not ours to clean")
    with atomic_write(target) as file:
        file.write(b"whole")
    assert target.read_bytes() == b"whole"
    assert not dead.exists()
    assert ours.exists() and other_file.exists()
    assert remove_stale_temporaries(target) == []


@pytest.mark.parametrize("entry", ["..", ".", "sub", "a/b", ""])
def test_a_manifest_naming_a_folder_is_refused_before_anything_is_written(tmp_path, entry):
    out = tmp_path / "report"
    write_output_files(out, {"a.txt": lambda p: p.write_text("old")})
    (out / "sub").mkdir()
    (out / "sub" / "keep.txt").write_text("keep")
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["files"] = ["a.txt", entry]
    (out / MANIFEST).write_text(json.dumps(manifest))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(ValueError, match=f"it lists {entry!r}"):
        write_output_files(out, {"b.txt": lambda p: p.write_text("new")}, force=True)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert not any(p.name.startswith(".skdeep-staging-") for p in out.iterdir())
