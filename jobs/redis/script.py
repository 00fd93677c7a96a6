"""The Lua scripts: each one a ``.lua`` file of package data, run through one :class:`Script`.

A script's file sits in the ``lua/`` folder of the package that owns it and starts with its
contract (its KEYS and ARGV, and what it returns) in a comment. A :class:`Script` loads its
source once, checks every call's arity against the numbers it was declared with, and runs
it one of two ways, the one policy for every script:

- :meth:`Script.call`, alone: by its digest (``EVALSHA``), loading it again if the server lost
  it (``NOSCRIPT``: a restarted Redis, a cluster node that never saw it), as redis-py's own
  script objects do;
- :meth:`Script.queue`, inside a pipeline shared with other commands: by its source
  (``EVAL``), because a server that lacks a script could not be told to load it without
  replaying the whole pipeline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any, ClassVar

from redis.exceptions import NoScriptError

from jobs.redis.connection import Pipeline, Redis, ScriptArg


def _source(package: str, name: str) -> str:
    return resources.files(package).joinpath("lua", f"{name}.lua").read_text(encoding="utf-8")


class Script:
    """The script ``lua/<name>.lua`` of ``package``, preceded by the ``includes`` (files of
    Lua functions in the same folder, such as the settle step several scripts share).

    ``keys`` and ``args`` are the numbers of keys and arguments it takes (a tuple: each count
    it accepts). ``each`` is for scripts that take any number of items (one or more) in one
    call: ``(keys, args)`` per item, on top of ``keys`` and ``args``.
    """

    #: Every script file loaded, as ``(package, name)``: a test checks none is left unused.
    loaded: ClassVar[set[tuple[str, str]]] = set()

    def __init__(
        self,
        package: str,
        name: str,
        *,
        keys: int | tuple[int, ...],
        args: int | tuple[int, ...],
        each: tuple[int, int] | None = None,
        includes: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.keys = (keys,) if isinstance(keys, int) else keys
        self.args = (args,) if isinstance(args, int) else args
        self.each = each
        parts = [*includes, name]
        self.source = "".join(_source(package, part) for part in parts)
        self.sha = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        Script.loaded.update((package, part) for part in parts)

    def check(self, keys: Sequence[str], args: Sequence[ScriptArg]) -> None:
        """Raise :class:`TypeError` unless ``keys`` and ``args`` are what the script takes."""
        n_keys, n_args = len(keys), len(args)
        if self.each is not None:
            per_keys, per_args = self.each
            items, extra = divmod(n_keys - self.keys[0], per_keys)
            if items < 1 or extra or n_args != self.args[0] + items * per_args:
                raise TypeError(
                    f"script {self.name} takes {self.keys[0]} + {per_keys}n keys and "
                    f"{self.args[0]} + {per_args}n arguments (n >= 1), "
                    f"got {n_keys} and {n_args}"
                )
            return
        if n_keys not in self.keys or n_args not in self.args:
            raise TypeError(
                f"script {self.name} takes {_counts(self.keys)} keys and {_counts(self.args)} "
                f"arguments, got {n_keys} and {n_args}"
            )

    async def call(self, redis: Redis, keys: Sequence[str], args: Sequence[ScriptArg]) -> Any:
        """Run the script alone (``EVALSHA``; loaded again if the server lost it)."""
        self.check(keys, args)
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await redis.script_load(self.source)
            return await redis.evalsha(self.sha, len(keys), *keys, *args)

    def queue(self, pipe: Pipeline, keys: Sequence[str], args: Sequence[ScriptArg]) -> None:
        """Queue the script in a pipeline shared with other commands (``EVAL``)."""
        self.check(keys, args)
        pipe.eval(self.source, len(keys), *keys, *args)


def _counts(counts: tuple[int, ...]) -> str:
    return " or ".join(str(count) for count in counts)
