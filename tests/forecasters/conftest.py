"""Real demand series for the forecaster tests.

- Azure 2024 conversation counts (one week of 10 s request counts, ../shared/data or
  $SLA_PLANNER_SHARED_DATA), summed to 1-minute counts; tests using it skip when absent.
- (The bundled Azure 2023 hour in 10 s bins, `bundled_10s`, is in tests/conftest.py.)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support.paths import SHARED_TRACES

AZURE_2024 = SHARED_TRACES / "azure2024_conversation_10s_counts.csv"


@pytest.fixture(scope="session")
def azure_minutes() -> np.ndarray:
    """Request count per minute over the first 3 days of the Azure 2024 week."""
    if not AZURE_2024.exists():
        pytest.skip(f"{AZURE_2024} not available (set SLA_PLANNER_SHARED_DATA)")
    df = pd.read_csv(AZURE_2024, parse_dates=["Time"])
    counts = df.set_index("Time")["TIMESTAMP"].resample("60s").sum()
    return counts.to_numpy(dtype=float)[: 3 * 1440]
