"""Build a kubernetes ApiClient from in-cluster credentials or a kubeconfig, every call of which
has a total deadline (actuators.call_deadline)."""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from sla_planner.actuators.call_deadline import DeadlineRESTClient
from sla_planner.errors import SlaPlannerError

# The deadline of a call that names no `_request_timeout` (the client's default is none at
# all): the actuators' default request_timeout_s.
DEFAULT_CALL_DEADLINE_S = 10.0


class KubeConfigError(SlaPlannerError, RuntimeError):
    """No usable Kubernetes credentials; the message says what was tried and the fix."""


def make_api_client(
    cfg: client.Configuration, *, call_deadline_s: float = DEFAULT_CALL_DEADLINE_S
) -> client.ApiClient:
    """An ApiClient for `cfg` whose every call ends by its deadline: `_request_timeout` (a
    total, not per socket read) or `call_deadline_s`."""
    api = client.ApiClient(cfg)
    api.rest_client.close()
    api.rest_client = DeadlineRESTClient(cfg, call_deadline_s)
    return api


def load_api_client(
    kubeconfig: str | os.PathLike[str] | None = None,
    *,
    context: str | None = None,
    retries: int = 0,
) -> client.ApiClient:
    """In-cluster ServiceAccount credentials when running in a pod and no kubeconfig is given;
    otherwise the kubeconfig (`kubeconfig`, else $KUBECONFIG, else ~/.kube/config).

    `retries` is urllib3's retry count. The default 0 keeps each call to one attempt; the
    control loop retries on its next interval instead. Every call has a total deadline
    (`_request_timeout`, else DEFAULT_CALL_DEADLINE_S), however slowly the reply arrives.
    """
    cfg = client.Configuration()
    tried: list[str] = []
    if kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            config.load_incluster_config(client_configuration=cfg)
            cfg.retries = retries
            return make_api_client(cfg)
        except ConfigException as exc:
            tried.append(f"in-cluster ServiceAccount ({exc})")
    path = Path(
        kubeconfig or os.environ.get("KUBECONFIG", "").split(os.pathsep)[0] or "~/.kube/config"
    ).expanduser()
    if not path.is_file():
        tried.append(f"kubeconfig {path} (no such file)")
        raise KubeConfigError(
            "no Kubernetes credentials: tried " + "; ".join(tried) + ". Fix: run in a pod with a "
            "ServiceAccount, or pass a kubeconfig path (or set KUBECONFIG)."
        )
    try:
        config.load_kube_config(
            config_file=str(path), context=context, client_configuration=cfg, persist_config=False
        )
    except (ConfigException, OSError, ValueError, TypeError) as exc:
        raise KubeConfigError(
            f"kubeconfig {path} is not usable{f' (context {context!r})' if context else ''}: "
            f"{exc}. Fix: check the file with `kubectl config view` and the context name."
        ) from exc
    cfg.retries = retries
    return make_api_client(cfg)
