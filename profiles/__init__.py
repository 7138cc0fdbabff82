"""Engine profiles: formats, import, bundled profiles and the curves the planner sizes with."""

from profiles.describe import describe
from profiles.errors import ProfileError, ProfileRangeWarning
from profiles.interpolation import ProfileCurves
from profiles.model import DecodeData, EngineProfile, PrefillData
from profiles.registry import list_bundled, load_profile

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
