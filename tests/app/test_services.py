"""Unit tests of the services that need no HTTP: queues, logs, snapshots, tensor helpers."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from app.services.events import Step
from app.services.history import MetricsLog, SnapshotData, SnapshotStore, is_geometric
from app.services.stream import Broadcaster, Watcher
from app.services.tensors import downsample, pool_axis, round_significant
from app.services.worker import threads_for
from model.training import StepRecord


def step_frame(step: int) -> bytes:
    return json.dumps({"type": "step", "record": {"step": step}}).encode()


@pytest.mark.anyio
async def test_watcher_drops_oldest_droppable_frames_and_counts_them():
    watcher = Watcher(max_droppable=3)
    watcher.put("run", b'{"type":"run","state":"started"}')
    for step in range(1, 11):
        watcher.put("step", step_frame(step))
    watcher.put("run", b'{"type":"run","state":"finished"}')
    frames = [json.loads(await watcher.get()) for _ in range(5)]
    assert frames[0]["state"] == "started"
    assert [f["record"]["step"] for f in frames[1:4]] == [8, 9, 10]
    assert frames[1]["skipped"] == 7
    assert frames[2]["skipped"] == 0
    assert frames[4]["state"] == "finished"
    assert watcher.skipped_total == 7


@pytest.mark.anyio
async def test_watcher_returns_none_after_close_once_drained():
    watcher = Watcher(max_droppable=3)
    watcher.put("bye", b'{"type":"bye"}')
    watcher.close()
    assert await watcher.get() == b'{"type":"bye"}'
    assert await watcher.get() is None


@pytest.mark.anyio
async def test_broadcaster_delivers_thread_published_messages_in_order():
    broadcaster = Broadcaster(asyncio.get_running_loop(), max_droppable=100)
    watcher = broadcaster.subscribe()
    await asyncio.to_thread(
        lambda: [broadcaster.publish_threadsafe(Step(record=record(i))) for i in range(1, 51)]
    )
    frames = [json.loads(await watcher.get()) for _ in range(50)]
    assert [f["record"]["step"] for f in frames] == list(range(1, 51))


def record(step: int) -> StepRecord:
    return StepRecord(
        step=step,
        loss=1.0 / step,
        lr=0.1,
        grad_norm=1.0,
        grad_norms={"w": 1.0},
        update_norms={"w": 0.1},
        update_ratios={"w": 0.01},
    )


def test_metrics_log_thins_to_every_other_step_when_full():
    log = MetricsLog(["w"], max_points=100)
    for step in range(1, 251):
        log.add_step(record(step))
    data = log.to_dict()
    assert len(data["train"]["steps"]) < 100
    assert data["stride"] == 4
    assert all(s % 4 == 0 for s in data["train"]["steps"])
    assert len(data["grad_norms"]["w"]) == len(data["train"]["steps"])


def test_snapshot_store_keeps_geometric_steps_and_thins_periodic_ones():
    store = SnapshotStore(every=10, max_snapshots=12)
    for step in range(0, 1001):
        if store.due(step):
            store.add(SnapshotData(step=step, loss=None, tokens=[], attention=None))
    steps = store.steps()
    assert len(steps) <= 12
    assert [s for s in steps if is_geometric(s)] == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert store.every > 10


def test_round_significant_keeps_digits_and_non_finite_values():
    values = np.array([0.0213456, 12345.678, -0.000123456, 0.0, np.inf, -np.inf], np.float32)
    rounded = round_significant(values, 3)
    np.testing.assert_allclose(rounded[:4], [0.0213, 12300, -0.000123, 0.0], rtol=1e-6)
    assert np.isposinf(rounded[4])
    assert np.isneginf(rounded[5])


def test_pooling_averages_finite_entries_and_keeps_fully_masked_blocks_masked():
    scores = np.array([[1.0, -np.inf, -np.inf, -np.inf], [2.0, 4.0, -np.inf, -np.inf]])
    pooled = pool_axis(scores, axis=1, size=2)
    np.testing.assert_allclose(pooled[:, 0], [1.0, 3.0])
    assert np.isneginf(pooled[:, 1]).all()


def test_downsample_reports_whether_anything_changed():
    values = np.ones((3, 5), np.float32)
    assert downsample(values, None)[1] is False
    assert downsample(values, 5)[1] is False
    pooled, changed = downsample(values, 2)
    assert pooled.shape == (2, 2)
    assert changed is True


def test_small_models_get_one_thread_and_large_ones_every_core():
    assert threads_for(60_000, configured=0, above=2_000_000) == 1
    assert threads_for(10_000_000, configured=0, above=2_000_000) >= 1
    assert threads_for(60_000, configured=3, above=2_000_000) == 3
