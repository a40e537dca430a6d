"""Several sessions training at once over real HTTP: exact step counts, no cross-talk, and a
health check that stays fast meanwhile."""

from __future__ import annotations

import statistics
import threading
import time

import httpx
import pytest

STEPS = 20
SEEDS = (11, 12, 13)


@pytest.mark.slow
def test_sessions_train_in_parallel_without_cross_talk_while_healthz_stays_fast(
    live_server, plain_losses
):
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        ids = {seed: http.post("/api/sessions", json={"seed": seed}).json()["id"] for seed in SEEDS}
        results: dict[int, list[float]] = {}
        errors: list[BaseException] = []

        def train(seed: int) -> None:
            try:
                with httpx.Client(base_url=live_server.url, timeout=60) as own:
                    losses: list[float] = []
                    for _ in range(2):  # two calls each, interleaved with the other sessions
                        body = own.post(
                            f"/api/sessions/{ids[seed]}/train", json={"steps": STEPS // 2}
                        ).json()
                        losses += [r["loss"] for r in body["records"]]
                    results[seed] = losses
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=train, args=(seed,)) for seed in SEEDS]
        for thread in threads:
            thread.start()
        latencies = []
        while any(t.is_alive() for t in threads):
            started = time.perf_counter()
            assert http.get("/healthz").status_code == 200
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.01)
        for thread in threads:
            thread.join()
        assert not errors, errors
        for seed in SEEDS:
            assert http.get(f"/api/sessions/{ids[seed]}").json()["step"] == STEPS
            assert results[seed] == plain_losses(STEPS, seed=seed)
        median = statistics.median(latencies)
        print(
            f"\n/healthz while 3 sessions train: median {median:.1f} ms, "
            f"max {max(latencies):.1f} ms over {len(latencies)} requests"
        )
        assert median < 100, latencies
