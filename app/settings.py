"""Service settings, read from the environment (prefix ATTNFLOW_) and validated at start-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


def _asset_dir(name: str) -> Path:
    """static/ or templates/ beside the app package (a checkout), else in the working directory
    (an installed package run from a directory holding them, as in the container image)."""
    beside = ROOT / name
    return beside if beside.is_dir() else Path.cwd() / name


def default_data_dir() -> Path:
    """The user data directory of the OS, not the checkout (which may be read-only, shared or
    deleted): ~/.local/share/attnflow on Linux ($XDG_DATA_HOME/attnflow when that is set),
    ~/Library/Application Support/attnflow on macOS, %LOCALAPPDATA%\\attnflow on Windows."""
    return Path(platformdirs.user_data_dir("attnflow", appauthor=False))


class Settings(BaseSettings):
    """Every limit the API enforces; OpenAPI shows the values of the running instance."""

    model_config = SettingsConfigDict(env_prefix="ATTNFLOW_", env_file=None, extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    max_sessions: int = Field(default=8, ge=1, le=1000)
    session_ttl_s: float = Field(
        default=3600.0, gt=0, description="idle seconds before a session may go"
    )
    max_steps_per_call: int = Field(
        default=1000, ge=1, description="steps of one /train or /compare call"
    )
    max_run_steps: int = Field(default=100_000, ge=1, description="steps of one background /run")
    max_text_chars: int = Field(default=2000, ge=1, description="characters of /forward text")
    # The seed preset with the largest built-in vocabulary is ~8M parameters; user text with a
    # word vocabulary of a few thousand words at seed shapes stays below this too.
    max_parameters: int = Field(default=30_000_000, ge=1_000)
    # Every schema-valid body must fit: a 200,000-character text escaped as \uXXXX is 1.2 MB.
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024, description="JSON request bodies")
    # A seed-shape checkpoint with AdamW moments is ~3 x 4 bytes per parameter.
    max_upload_bytes: int = Field(
        default=400 * 1024 * 1024, ge=1024, description="checkpoint uploads"
    )
    # Origins (scheme://host:port) allowed besides same-origin, comma-separated in the environment.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Host names this server answers to (DNS-rebinding guard, as Jupyter Server's): the loopback
    # names by default; IP literals always pass (a rebinding attack needs a name). `*` allows any.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "::1"]
    )
    # Memory budget, estimated from the config before allocating (app.services.budget).
    max_session_bytes: int = Field(
        default=1024**3, ge=1024**2, description="estimated bytes of one session or request"
    )
    max_total_bytes: int = Field(
        default=6 * 1024**3, ge=1024**2, description="estimated bytes of all sessions in memory"
    )
    max_uploads: int = Field(default=2, ge=1, le=64, description="checkpoint uploads at once")
    # Fair share: background runs and comparisons at once, and steps per client per window.
    max_running: int = Field(default=4, ge=1, le=1000, description="runs training at once")
    client_steps: int = Field(
        default=200_000, ge=1, description="steps one client may train per client_window_s"
    )
    client_window_s: float = Field(default=3600.0, gt=0)
    # A run stops and rolls back when its smoothed loss passes this multiple of its running
    # minimum (model.divergence); 0 turns the guard off.
    divergence_factor: float = Field(default=4.0, ge=0)
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    # Sessions that do not say: auto = bf16 autocast where the device does bf16 fast and the
    # model is big enough for it to pay (model/precision.py), else fp32.
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    data_dir: Path = Field(default_factory=default_data_dir)
    # Sessions saved under data_dir/sessions/: changed ones every persist_every_s seconds (so a
    # kill -9 loses at most that much training), all of them on shutdown.
    persist: bool = True
    persist_every_s: float = Field(default=10.0, gt=0, le=86_400)
    # Replicas behind a proxy share one data_dir: each session is owned through a lease
    # (app.services.lease), saved sessions load on demand, none is pruned (docs/deploy.md).
    shared_data_dir: bool = False
    max_saved_sessions: int = Field(
        default=64, ge=1, le=100_000, description="sessions kept on disk (least recently used go)"
    )
    log_json: bool = False
    # 0 = measured per session: each session times its own steps with 1 thread, half and all
    # cores and keeps the fastest, re-checking now and then (app.services.worker.ThreadTuner);
    # it starts with 1 for models under `threads_above_parameters`, all cores above.
    torch_threads: int = Field(default=0, ge=0, le=256)
    threads_above_parameters: int = Field(default=2_000_000, ge=0)
    # Forward traces above this many floats are downsampled unless the client asks for full=true.
    max_trace_floats: int = Field(default=262_144, ge=1024)
    stream_queue: int = Field(
        default=64, ge=1, le=10_000, description="droppable frames per client"
    )
    stream_attention_interval_s: float = Field(default=0.25, ge=0)
    snapshot_every: int = Field(default=50, ge=1, description="periodic snapshot interval in steps")
    max_snapshots: int = Field(default=64, ge=4)
    max_history_points: int = Field(default=20_000, ge=100)
    static_dir: Path = Field(default_factory=lambda: _asset_dir("static"))
    templates_dir: Path = Field(default_factory=lambda: _asset_dir("templates"))

    @field_validator("allowed_origins", "allowed_hosts", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _no_wildcard_origin(cls, value: list[str]) -> list[str]:
        # As Jupyter Server: a wildcard would let every website drive this API with the
        # visitor's network position; name the origins instead.
        if "*" in value:
            raise ValueError(
                "ATTNFLOW_ALLOWED_ORIGINS=* is refused: it would let any website call this API; "
                "list the origins (scheme://host:port) that may"
            )
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _lower_hosts(cls, value: list[str]) -> list[str]:
        return [host.lower().strip("[]") for host in value]


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests override this dependency or pass Settings to create_app."""
    return Settings()
