"""Classify actuator failures into the few kinds the controller counts and reports."""

from __future__ import annotations

from sla_planner.model.reasons import ErrorKind

_REASON_KIND = {  # actuators.errors.KubeActuatorError.reason -> kind
    "not_found": ErrorKind.NOT_FOUND,
    "forbidden": ErrorKind.FORBIDDEN,
    "unauthorized": ErrorKind.FORBIDDEN,
    "conflict": ErrorKind.CONFLICT,
    "invalid": ErrorKind.INVALID,
    "unavailable": ErrorKind.API,
    "bad_response": ErrorKind.API,
    "not_leader": ErrorKind.NOT_LEADER,
}
_STATUS_KIND = {
    404: ErrorKind.NOT_FOUND,
    403: ErrorKind.FORBIDDEN,
    401: ErrorKind.FORBIDDEN,
    409: ErrorKind.CONFLICT,
    422: ErrorKind.INVALID,
}


def classify_actuator_error(exc: BaseException) -> ErrorKind:
    """not_found | forbidden | conflict | invalid | not_leader | api, from the error or the one
    behind it."""
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
    return ErrorKind.API
