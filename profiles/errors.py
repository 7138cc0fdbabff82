"""Errors and warnings raised by the profiles package."""

from __future__ import annotations

from sla_planner.errors import SlaPlannerError


class ProfileError(SlaPlannerError, ValueError):
    """A profile that cannot be used. The message names the file, the key and the fix."""


class AiconfiguratorNotInstalled(ProfileError):
    """Profiles without hardware need the optional extra `sla-planner[aiconfigurator]`."""


class ProfileRangeWarning(UserWarning):
    """A question asked outside a profile's measured range; the answer was clamped or extrapolated."""
