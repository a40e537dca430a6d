"""The per-session thread tuner, fed with step times a fake machine would give."""

from __future__ import annotations

from app.services.worker import ThreadTuner, thread_candidates


def drive(tuner: ThreadTuner, seconds: dict[int, float], chunks: int) -> list[tuple[int, int]]:
    """Runs `chunks` chunks of 10 steps (probes are shorter); returns (threads, steps) of each."""
    ran = []
    for _ in range(chunks):
        threads, limit = tuner.choose()
        steps = min(10, limit or 10)
        tuner.report(threads, [seconds[threads]] * steps)
        ran.append((threads, steps))
    return ran


def test_a_configured_count_is_never_changed():
    tuner = ThreadTuner(thread_candidates(3), 3)
    assert {threads for threads, _ in drive(tuner, {3: 0.01}, 50)} == {3}


def test_it_tries_each_count_then_keeps_the_faster():
    tuner = ThreadTuner([1, 2], 1)
    ran = drive(tuner, {1: 0.010, 2: 0.008}, 10)
    assert ran[0] == (1, 10)  # the starting guess, on a normal chunk
    assert ran[1] == (2, ThreadTuner.PROBE_STEPS)  # a short probe of the other count
    assert all(threads == 2 for threads, _ in ran[2:])
    assert tuner.best == 2


def test_a_settled_session_probes_rarely():
    tuner = ThreadTuner([1, 2], 1)
    ran = drive(tuner, {1: 0.010, 2: 0.008}, 2000)
    probes = sum(1 for threads, _ in ran if threads == 1)
    assert probes <= 10  # intervals double: 16, 32, ... 1024 chunks
    probe_steps = sum(steps for threads, steps in ran if threads == 1)
    assert probe_steps / sum(steps for _, steps in ran) < 0.01


def test_it_follows_a_change_of_load():
    tuner = ThreadTuner([1, 2], 1)
    drive(tuner, {1: 0.010, 2: 0.008}, 40)
    assert tuner.best == 2
    # another process takes a core: two threads now stall on each other
    drive(tuner, {1: 0.010, 2: 0.080}, 2)
    assert tuner.best == 1  # its own chunks showed it, without waiting for a probe
    ran = drive(tuner, {1: 0.010, 2: 0.008}, 200)  # the other process is gone again
    assert tuner.best == 2
    assert sum(1 for threads, _ in ran if threads == 1) < 40


def test_one_slow_step_in_a_chunk_does_not_decide():
    tuner = ThreadTuner([1, 2], 2)
    tuner.choose()
    tuner.report(2, [0.008] * 9 + [0.5])  # e.g. a held-out eval inside the chunk
    threads, _ = tuner.choose()
    tuner.report(threads, [0.010] * 4)
    assert tuner.best == 2


def test_candidates_are_one_thread_half_and_all_cores():
    candidates = thread_candidates(0)
    assert candidates[0] == 1
    assert candidates == sorted(set(candidates))
