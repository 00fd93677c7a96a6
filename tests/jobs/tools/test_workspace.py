"""The dispatcher: strict input, definitions the SDK accepts, off-loop work, the sample tree."""

from __future__ import annotations

import asyncio
import glob
import time
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from anthropic.types import ToolParam
from pydantic import TypeAdapter

from jobs.running.loop import RUN_STATE
from jobs.tools import TOOL_NAMES, ToolLimits, ToolResult, Workspace, sample_root, tool_definitions
from jobs.tools import workspace as workspace_module
from jobs.tools.registry import BY_NAME
from tests.jobs.tools.conftest import Hostile, write

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("name", "tool_input", "reason"),
    [
        (
            "Bash",
            {"command": "cat /etc/passwd"},
            "unknown tool 'Bash'; the tools are Glob, Grep, Read",
        ),
        (
            "Read",
            {},
            "invalid Read input: input: Value error, give file_path (or path), exactly one of them",
        ),
        (
            "Read",
            {"path": "a", "file_path": "a"},
            "invalid Read input: input: Value error, give file_path (or path), exactly one of them",
        ),
        (
            "Grep",
            {"pattern": "a", "output_mode": "lines"},
            "invalid Grep input: output_mode: Input should be 'files_with_matches', 'content' "
            "or 'count'",
        ),
        (
            "Grep",
            {"pattern": "a", "-C": "2"},
            "invalid Grep input: -C: Input should be a valid integer",
        ),
        ("Read", {"path": 7}, "invalid Read input: path: Input should be a valid string"),
        (
            "Read",
            {"path": "a", "offset": "2"},
            "invalid Read input: offset: Input should be a valid integer",
        ),
        (
            "Read",
            {"path": "a", "offset": True},
            "invalid Read input: offset: Input should be a valid integer",
        ),
        (
            "Read",
            {"path": "a", "offset": -1},
            "invalid Read input: offset: Input should be greater than or equal to 0",
        ),
        (
            "Read",
            {"path": "a", "limit": -1},
            "invalid Read input: limit: Input should be greater than or equal to 1",
        ),
        (
            "Read",
            {"path": "a", "mode": "w"},
            "invalid Read input: mode: Extra inputs are not permitted",
        ),
        (
            "Glob",
            {"pattern": ""},
            "invalid Glob input: pattern: String should have at least 1 character",
        ),
        (
            "Grep",
            {"pattern": "x", "glob": ["*.ts"]},
            "invalid Grep input: glob: Input should be a valid string",
        ),
        ("Grep", "checkout", "invalid Grep input: it must be a JSON object"),
        ("Grep", None, "invalid Grep input: it must be a JSON object"),
    ],
)
async def test_bad_input_is_an_error_result_naming_the_field(
    hostile: Hostile, name: str, tool_input: object, reason: str
) -> None:
    result = await hostile.make().run(name, tool_input)
    assert (result.ok, result.summary, result.content) == (False, reason, f"Error: {reason}")


def test_definitions_are_tool_params_the_sdk_accepts() -> None:
    definitions = tool_definitions(TOOL_NAMES)
    assert [d["name"] for d in definitions] == ["Glob", "Grep", "Read"]
    adapter = TypeAdapter(ToolParam)
    for definition in definitions:
        adapter.validate_python(definition)
        schema = definition["input_schema"]
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
    schemas = {d["name"]: d["input_schema"] for d in definitions}
    assert schemas["Glob"]["required"] == ["pattern"]
    assert set(schemas["Grep"]["properties"]) == {
        "pattern", "path", "glob", "type", "output_mode", "-i", "-n", "-A", "-B", "-C",
        "head_limit", "multiline",
    }  # fmt: skip
    assert schemas["Grep"]["properties"]["output_mode"]["default"] == "files_with_matches"
    assert set(schemas["Read"]["properties"]) == {"file_path", "path", "offset", "limit"}


def test_definitions_refuse_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown tools: Bash"):
        tool_definitions(["Read", "Bash"])


async def test_an_internal_error_is_a_result_not_an_exception(
    hostile: Hostile, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def boom(*args: Any) -> Any:
        raise OSError("disk on fire: /secret/path")

    monkeypatch.setitem(BY_NAME, "Read", replace(BY_NAME["Read"], run=boom))
    result = await hostile.make().run("Read", {"path": "README.md"})
    assert (result.ok, result.content) == (False, "Error: Read failed on an internal error")


async def test_a_hung_call_is_abandoned_after_its_deadline(
    hostile: Hostile, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def hang(*args: Any) -> Any:
        # A hung filesystem: the thread ignores its deadline.
        await asyncio.get_running_loop().run_in_executor(None, time.sleep, 1.0)

    monkeypatch.setitem(BY_NAME, "Read", replace(BY_NAME["Read"], run=hang))
    monkeypatch.setattr(workspace_module, "_GRACE_S", 0.05)
    result = await hostile.make(ToolLimits(time_s=0.1)).run("Read", {"path": "README.md"})
    assert (result.ok, result.content) == (False, "Error: Read did not finish within 0.1 s")


async def test_the_event_loop_keeps_running_while_a_tool_works(hostile: Hostile) -> None:
    # 200,000 matching lines: each record is parsed in Python, which takes a while.
    write(hostile.root / "many.txt", "hit\n" * 200_000)
    ticks: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.005)

    ws = hostile.make(ToolLimits(time_s=30))
    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    started = time.monotonic()
    result = await ws.run("Grep", {"pattern": "hit", "path": "many.txt", "output_mode": "content"})
    finished = time.monotonic()
    done.set()
    await task
    assert result.summary == "200000 matches in 1 file"
    during = [t for t in ticks if started < t < finished]
    # A call that blocked the loop would leave no tick between its start and its end.
    assert len(during) >= 3, (len(during), finished - started)


def test_the_sample_tree_ships_as_package_data() -> None:
    root = sample_root()
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert {"src/pages/checkout.tsx", "src/pages/cart.tsx", "package.json", ".gitignore"} <= on_disk
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["jobs.tools"]
    package = REPO / "jobs" / "tools"
    shipped = {
        Path(p).relative_to("sample").as_posix()
        for pattern in patterns
        for p in glob.glob(pattern, root_dir=package, recursive=True)
        if (package / p).is_file()
    }
    assert shipped == on_disk


async def test_the_sample_tree_is_the_default_and_the_tools_find_things_in_it() -> None:
    with Workspace.open(None) as ws:
        assert ws.root == sample_root().resolve()
        pages = await ws.run("Glob", {"pattern": "src/pages/*.tsx"})
        assert sorted(pages.content.splitlines()) == [
            "src/pages/cart.tsx",
            "src/pages/checkout.tsx",
            "src/pages/home.tsx",
            "src/pages/order-status.tsx",
            "src/pages/product.tsx",
        ]
        promo = await ws.run(
            "Grep", {"pattern": "promo code", "glob": "*.tsx", "output_mode": "content"}
        )
        assert promo.content == (
            "src/pages/checkout.tsx:39:      // The promo code is only validated here, "
            "when the order is placed."
        )
        assert promo.files_read == ("src/pages/checkout.tsx",)
        read = await ws.run("Read", {"path": "src/pages/checkout.tsx", "offset": 22, "limit": 1})
        assert read.content.splitlines()[0] == (
            "    22\t  // No guest checkout: the shopper must be signed in to pay."
        )
        assert read.summary == "read 1 line of src/pages/checkout.tsx"


async def test_the_sample_tree_has_nothing_secret_looking() -> None:
    root = sample_root()
    with Workspace.open(None) as ws:
        listed = set((await ws.run("Glob", {"pattern": "**/*"})).content.splitlines())
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert listed == on_disk


async def test_one_run_cannot_take_every_slot_and_the_time_limit_counts_from_the_start(
    hostile: Hostile, monkeypatch: pytest.MonkeyPatch
) -> None:
    running: dict[str, int] = {"a": 0, "b": 0}
    most: dict[str, int] = {"a": 0, "b": 0}
    release = asyncio.Event()

    async def held(context: Any, args: Any) -> Any:
        run = "a" if args.target.startswith("a") else "b"
        running[run] += 1
        most[run] = max(most[run], running[run])
        try:
            await release.wait()
            await asyncio.sleep(0.3)  # most of the call's 0.5 s time limit
            return ToolResult(True, "ok", "ok")
        finally:
            running[run] -= 1

    monkeypatch.setitem(BY_NAME, "Read", replace(BY_NAME["Read"], run=held))
    ws = hostile.make(ToolLimits(time_s=0.5, calls_per_job=2, calls_running=3))

    async def one_run(name: str, calls: int) -> list[ToolResult]:
        RUN_STATE.set({})  # what AgentLoop.run does for each run
        return list(
            await asyncio.gather(*(ws.run("Read", {"path": f"{name}{n}"}) for n in range(calls)))
        )

    a = asyncio.create_task(one_run("a", 6))
    b = asyncio.create_task(one_run("b", 2))
    while running["b"] < 1:  # b gets a slot although a asked for six first
        await asyncio.sleep(0.005)
    assert running["a"] == 2, "a run's calls beyond its bound wait"
    release.set()
    results = [*await a, *await b]
    assert most["a"] == 2
    # Six calls of 0.3 s, two at a time, take 0.9 s: each had its 0.5 s from its own start.
    assert [r.ok for r in results] == [True] * 8, [r.content for r in results]


def test_the_clients_step_phrasing_and_the_event_text_follow_the_registry() -> None:
    # The client and the wire schemas do not import the tools (the CLI starts fast): checked.
    from jobs.client.output import STEP_FIELDS
    from jobs.schemas import ToolEvent
    from jobs.tools import TOOLS

    assert {tool.phrase for tool in TOOLS} <= set(STEP_FIELDS)
    for tool in TOOLS:
        assert tool.phrase in tool.input.model_fields
    description = ToolEvent.model_fields["name"].description or ""
    assert all(tool.name in description for tool in TOOLS)
