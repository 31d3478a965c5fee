"""An in-process Kubernetes API server emulator for tests (see docs/design/0001-kube-api-emulator.md).

Public API::

    ApiServer(port=0, crd_dirs=(), history=100_000, *, host, bookmark_interval, default_watch_timeout,
              authz, namespaces)
    write_kubeconfig(path, url, token=DEFAULT_TOKEN, namespace=None)
    api_client(url, token=DEFAULT_TOKEN) -> kubernetes.client.ApiClient
"""

from .errors import ApiError
from .kubeconfig import DEFAULT_TOKEN, api_client, write_kubeconfig
from .server import ApiServer, Fault, RequestInfo

__all__ = ["ApiError", "ApiServer", "DEFAULT_TOKEN", "Fault", "RequestInfo", "api_client", "write_kubeconfig"]
