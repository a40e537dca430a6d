"""Every setting is documented in the README's Settings list, by its environment name, and the
hardening defaults stated there are the real ones."""

from __future__ import annotations

import re

from app.settings import Settings

from .conftest import REPO


def settings_section() -> str:
    readme = (REPO / "README.md").read_text()
    return readme.split("### Settings", 1)[1].split("\n### ", 1)[0]


def test_every_setting_is_in_the_readme():
    section = settings_section()
    missing = [name for name in Settings.model_fields if f"`{name.upper()}`" not in section]
    assert missing == [], f"README 'Settings' lacks {missing}"


def test_the_readme_states_the_hardening_defaults():
    section = " ".join(settings_section().split())
    defaults = Settings()
    assert "`MAX_SESSION_BYTES` [1024 MiB" in section
    assert defaults.max_session_bytes == 1024**3
    assert "`MAX_TOTAL_BYTES` [6144 MiB" in section
    assert defaults.max_total_bytes == 6 * 1024**3
    for name in ("max_uploads", "max_running", "client_steps"):
        found = re.search(rf"`{name.upper()}` \[(\d+)", section)
        assert found, name
        assert int(found[1]) == getattr(defaults, name)
    assert f"`DIVERGENCE_FACTOR` [{defaults.divergence_factor:g}" in section
    assert "[localhost,127.0.0.1,::1" in section
    assert defaults.allowed_hosts == ["localhost", "127.0.0.1", "::1"]
