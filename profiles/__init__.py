"""Engine profiles: formats, import, bundled profiles and the curves the planner sizes with."""

from sla_planner.profiles.describe import describe
from sla_planner.profiles.errors import ProfileError, ProfileRangeWarning
from sla_planner.profiles.interpolation import ProfileCurves
from sla_planner.profiles.model import DecodeData, EngineProfile, PrefillData
from sla_planner.profiles.registry import list_bundled, load_profile

__all__ = [
    "DecodeData",
    "EngineProfile",
    "PrefillData",
    "ProfileCurves",
    "ProfileError",
    "ProfileRangeWarning",
    "describe",
    "list_bundled",
    "load_profile",
]
