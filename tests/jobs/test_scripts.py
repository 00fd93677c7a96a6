"""The Lua scripts: one :class:`Script` wrapper checks their arity, and every ``.lua`` file
states its contract and is used."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import jobs
from jobs.redis.connection import ScriptArg
from jobs.redis.script import Script

JOBS = Path(jobs.__file__).parent


def test_a_script_refuses_the_wrong_number_of_keys_or_arguments() -> None:
    script = Script("jobs.record", "hand_over", keys=2, args=1)
    script.check(["job", "lease"], ["runner"])
    with pytest.raises(TypeError, match="hand_over takes 2 keys and 1 arguments, got 1 and 1"):
        script.check(["job"], ["runner"])
    with pytest.raises(TypeError, match="got 2 and 2"):
        script.check(["job", "lease"], ["runner", "extra"])


def test_a_script_may_accept_several_counts() -> None:
    script = Script("jobs.record", "create", keys=(1, 2), args=2)
    script.check(["job"], [60, "[]"])
    script.check(["job", "agent"], [60, "[]"])
    with pytest.raises(TypeError, match="takes 1 or 2 keys"):
        script.check(["job", "agent", "third"], [60, "[]"])


def test_a_batched_script_takes_whole_items() -> None:
    script = Script("jobs.delivery", "append", keys=0, args=2, each=(3, 1))
    script.check(["r", "l", "e"], [100, 60, "[]"])
    script.check(["r", "l", "e", "r2", "l2", "e2"], [100, 60, "[]", "[]"])
    cases: list[tuple[list[str], list[ScriptArg]]] = [
        ([], [100, 60]),  # no item at all
        (["r", "l"], [100, 60, "[]"]),  # a partial item's keys
        (["r", "l", "e"], [100, 60, "[]", "[]"]),  # an argument too many
    ]
    for keys, args in cases:
        with pytest.raises(TypeError, match="append takes 0 \\+ 3n keys"):
            script.check(keys, args)


def test_a_script_is_its_includes_then_itself() -> None:
    script = Script("jobs.record", "finish", keys=(4, 6), args=8, includes=("settle",))
    settle = (JOBS / "record" / "lua" / "settle.lua").read_text()
    finish = (JOBS / "record" / "lua" / "finish.lua").read_text()
    assert script.source == settle + finish


def lua_files() -> list[Path]:
    return sorted(JOBS.rglob("*.lua"))


def test_every_lua_file_starts_with_its_contract() -> None:
    assert lua_files(), "the scripts are found"
    for path in lua_files():
        header = []
        for line in path.read_text().splitlines():
            if not line.startswith("--"):
                break
            header.append(line)
        text = "\n".join(header)
        assert "KEYS" in text, f"{path.name} names its KEYS in its opening comment"
        assert "ARGV" in text, f"{path.name} names its ARGV in its opening comment"
        assert path.parent.name == "lua", f"{path.name} is in a lua/ folder"


def test_every_lua_file_is_loaded_by_a_script() -> None:
    for module in pkgutil.walk_packages(jobs.__path__, "jobs."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    on_disk = {
        (".".join(path.parent.parent.relative_to(JOBS.parent).parts), path.stem)
        for path in lua_files()
    }
    assert on_disk == Script.loaded
