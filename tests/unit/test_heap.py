"""The run scope: the collector's thresholds and set-aside objects come back when the run ends."""

from __future__ import annotations

import gc
import weakref

from ecsync_core import heap


def test_a_run_scope_sets_aside_what_settles_and_gives_it_back() -> None:
    before = gc.get_threshold()
    with heap.run_scope():
        assert heap.YOUNG_THRESHOLD == gc.get_threshold()[0]
        heap.settle()
        assert gc.get_freeze_count() > 0
    assert before == gc.get_threshold()
    assert 0 == gc.get_freeze_count()


def test_a_failing_run_restores_the_collector_too() -> None:
    before = gc.get_threshold()
    try:
        with heap.run_scope():
            heap.settle()
            raise RuntimeError("the run died")
    except RuntimeError:
        pass
    assert before == gc.get_threshold()
    assert 0 == gc.get_freeze_count()


def test_a_host_that_froze_its_own_objects_keeps_them_and_gets_the_runs_back() -> None:
    """
    A program that calls gc.freeze() itself finds it still in force after a run, and a cycle the run made is
    collected once it is dropped (kept frozen, it would never be).
    """

    class Node:
        other: object = None

    gc.freeze()
    try:
        host = gc.get_freeze_count()
        with heap.run_scope():
            a, b = Node(), Node()
            a.other, b.other = b, a
            made = weakref.ref(a)
            heap.settle()
            del a, b
        gc.collect()
        assert (host, None) == (gc.get_freeze_count(), made())
    finally:
        gc.unfreeze()
