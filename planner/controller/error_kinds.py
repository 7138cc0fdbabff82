"""Classify actuator failures into the few kinds the controller counts and reports."""

from __future__ import annotations

# Error kinds (the `kind` label of sla_planner_errors_total and the hold_<kind> reason codes).
_ERROR_KINDS = {"not_found", "forbidden", "conflict", "invalid", "api"}
_REASON_KIND = {  # actuators.errors.KubeActuatorError.reason -> kind
    "not_found": "not_found",
    "forbidden": "forbidden",
    "unauthorized": "forbidden",
    "conflict": "conflict",
    "invalid": "invalid",
    "unavailable": "api",
    "bad_response": "api",
}
_STATUS_KIND = {
    404: "not_found",
    403: "forbidden",
    401: "forbidden",
    409: "conflict",
    422: "invalid",
}


def classify_actuator_error(exc: BaseException) -> str:
    """not_found | forbidden | conflict | invalid | api, from the error or the one behind it."""
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        for attr in ("kind", "reason"):
            value = getattr(e, attr, None)
            if isinstance(value, str) and value in _REASON_KIND:
                return _REASON_KIND[value]
        for attr in ("status", "status_code"):
            code = getattr(e, attr, None)
            if isinstance(code, int) and code in _STATUS_KIND:
                return _STATUS_KIND[code]
        e = e.__cause__ or e.__context__
    return "api"
