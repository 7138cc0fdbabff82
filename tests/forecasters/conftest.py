"""Real demand series for the forecaster tests.

- Azure 2024 conversation counts (one week of 10 s request counts, ../shared/data or
  $SLA_PLANNER_SHARED_DATA), summed to 1-minute counts; tests using it skip when absent.
- The bundled Azure 2023 conversation trace (planner/data, always present): one hour of
  requests, binned to 10 s counts and mean ISL/OSL.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SHARED = Path(
    os.environ.get(
        "SLA_PLANNER_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"
    )
)
AZURE_2024 = SHARED / "traces" / "azure2024_conversation_10s_counts.csv"
BUNDLED_2023 = (
    Path(__file__).resolve().parents[2] / "planner" / "data" / "AzureLLMInferenceTrace_conv.csv"
)


@pytest.fixture(scope="session")
def azure_minutes() -> np.ndarray:
    """Request count per minute over the first 3 days of the Azure 2024 week."""
    if not AZURE_2024.exists():
        pytest.skip(f"{AZURE_2024} not available (set SLA_PLANNER_SHARED_DATA)")
    df = pd.read_csv(AZURE_2024, parse_dates=["Time"])
    counts = df.set_index("Time")["TIMESTAMP"].resample("60s").sum()
    return counts.to_numpy(dtype=float)[: 3 * 1440]


@pytest.fixture(scope="session")
def bundled_10s() -> pd.DataFrame:
    """Bundled Azure 2023 hour as 10 s bins: requests, isl_mean, osl_mean (NaN when empty)."""
    df = pd.read_csv(BUNDLED_2023)
    t = pd.to_datetime(df["TIMESTAMP"])
    binned = df.assign(t=t).set_index("t").resample("10s")
    return pd.DataFrame(
        {
            "requests": binned.size().astype(float),
            "isl_mean": binned["ContextTokens"].mean(),
            "osl_mean": binned["GeneratedTokens"].mean(),
        }
    ).reset_index(drop=True)
