"""Child events coalesce into one reconcile per cluster, and a poke during a run is never lost."""

from __future__ import annotations

import asyncio

from hive_operator.pokes import Pokes


def test_a_burst_of_pokes_is_one_run_per_cluster() -> None:
    runs: list[tuple[str, str]] = []

    async def run(namespace: str, name: str) -> None:
        runs.append((namespace, name))

    async def scenario() -> None:
        pokes = Pokes(run, delay=0.01)
        accepted = [pokes.poke("ns", "a") for _ in range(20)] + [pokes.poke("ns", "b")]
        assert accepted.count(True) == 2
        await asyncio.sleep(0.1)
        await pokes.close()

    asyncio.run(scenario())
    assert sorted(runs) == [("ns", "a"), ("ns", "b")]


def test_a_poke_during_a_run_schedules_exactly_one_more() -> None:
    runs: list[str] = []
    release = asyncio.Event()

    async def run(namespace: str, name: str) -> None:
        runs.append(name)
        if len(runs) == 1:
            await release.wait()

    async def scenario() -> None:
        pokes = Pokes(run, delay=0.0)
        pokes.poke("ns", "a")
        while not runs:
            await asyncio.sleep(0.001)
        # the first run is in progress: these pokes become one more run, not zero and not three
        assert [pokes.poke("ns", "a") for _ in range(3)] == [True, False, False]
        release.set()
        await asyncio.sleep(0.05)
        await pokes.close()

    asyncio.run(scenario())
    assert runs == ["a", "a"]


def test_a_failing_run_is_logged_and_later_pokes_still_run() -> None:
    calls = 0

    async def run(namespace: str, name: str) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("the API server said no")

    async def scenario() -> None:
        pokes = Pokes(run, delay=0.0)
        pokes.poke("ns", "a")
        await asyncio.sleep(0.02)
        assert pokes.poke("ns", "a")
        await asyncio.sleep(0.02)
        await pokes.close()

    asyncio.run(scenario())
    assert calls == 2


def test_close_cancels_what_is_pending() -> None:
    runs: list[str] = []

    async def run(namespace: str, name: str) -> None:
        runs.append(name)

    async def scenario() -> None:
        pokes = Pokes(run, delay=60)
        pokes.poke("ns", "a")
        await pokes.close()
        assert pokes.poke("ns", "a"), "nothing stays pending after close"
        await pokes.close()

    asyncio.run(scenario())
    assert runs == []
