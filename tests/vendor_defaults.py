"""What the broker passes the Mindset client and retry policy when every setting is at its default.

Neither class has defaults of its own (config.py declares each setting's once); a test that
builds one directly takes them from here.
"""

from __future__ import annotations

from typing import Any

from flask_token_broker.settings import MindsetSettings, ResilienceSettings

CLIENT_OPTIONS: dict[str, Any] = {
    "flavor": MindsetSettings.flavor,
    "connect_timeout": MindsetSettings.connect_timeout,
    "read_timeout": MindsetSettings.read_timeout,
    "pool_size": MindsetSettings.pool_size,
}
POLICY_OPTIONS: dict[str, Any] = {
    "attempts": ResilienceSettings.retry_attempts,
    "retry_after_cap": ResilienceSettings.retry_after_cap,
}
