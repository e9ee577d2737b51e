"""The browser's settings for the counter's screens; the worlds come from tests/factories (small_city and the
worlds built on it)."""
import pytest


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    # Counter PCs in the halls run a Chinese browser: the first page comes in 简体中文.
    return {**browser_context_args, "locale": "zh-CN", "viewport": {"width": 1440, "height": 1000}}
