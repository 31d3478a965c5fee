"""An in-process Kubernetes API server emulator for tests (see docs/design/0001-kube-api-emulator.md).

Besides the API itself it does what a control plane's other parts do for the objects it serves: the
service-account token controller and token authentication (``serviceaccounts.py``) and, with
``rbac=True``, authorization from the stored Roles and bindings (``rbac.py``).

Public API::

    ApiServer(port=0, crd_dirs=(), history=100_000, *, host, bookmark_interval, default_watch_timeout,
              authz, rbac, namespaces, node_port_range, ca_pem)
    write_kubeconfig(path, url, token=DEFAULT_TOKEN, namespace=None)
    api_client(url, token=DEFAULT_TOKEN) -> kubernetes.client.ApiClient
"""

from .errors import ApiError
from .kubeconfig import DEFAULT_TOKEN, api_client, write_kubeconfig
from .server import ApiServer, Fault, RequestInfo

__all__ = ["ApiError", "ApiServer", "DEFAULT_TOKEN", "Fault", "RequestInfo", "api_client", "write_kubeconfig"]
