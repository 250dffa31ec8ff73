"""Error types a user can fix, and the one place that turns them into one console line.

Everyone may import this module: it imports nothing of the project at module level.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


class ConfigError(ValueError):
    """A config value is invalid; the message names the field and the fix."""


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix (bad config, data, store) into one line and exit 2."""
    # imported here, not at the top: DataError lives in the data layer, and
    # TrackingError in ablation.tracking, which pulls in MLflow (the schema must not)
    from ablation.data import DataError
    from ablation.tracking import TrackingError

    try:
        yield
    except (ConfigError, DataError, TrackingError) as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
