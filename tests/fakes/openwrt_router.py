"""A fake OpenWrt router for backend tests: a root directory holding one of the recorded configs
(tests/data/openwrt/configs/<name>), the rpcd login and the ACL file of docs/openwrt/baremetal-lb.json, served by
the fake ``/ubus`` endpoint (tests/fakes/openwrt_rpcd.py) and by the fake ``uci`` CLI (tests/fakes/uci.py).

``backend("rpcd")`` drives it from the "controller" over JSON-RPC; ``backend("uci")`` as a task on the router would
(``uci`` subprocesses, the lease file read directly, an ``/etc/init.d/<service> restart`` script that logs its runs).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tests.fakes import uci
from tests.fakes.openwrt_rpcd import FakeRpcd

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "tests" / "data" / "openwrt" / "configs"
ACL_FILE = REPO / "docs" / "openwrt" / "baremetal-lb.json"
UCI = Path(__file__).resolve().parent / "uci.py"
USER, PASSWORD = "baremetal-lb", "rpcd-Secret-4711"
RPCD_CONFIG = f"""
config rpcd
\toption socket '/var/run/ubus/ubus.sock'
\toption timeout '30'

config login
\toption username 'root'
\toption password '$p$root'
\tlist read '*'
\tlist write '*'

config login
\toption username '{USER}'
\toption password '$p${USER}'
\tlist read 'baremetal-lb'
\tlist write 'baremetal-lb'
"""


class FakeOpenwrt:
    def __init__(self, tmp_path: Path, config: str = "stock-24.10", acl: str | None = None) -> None:
        self.root = tmp_path / "router"
        for sub in ("etc/config", "etc/init.d", "tmp/.uci", "usr/share/rpcd/acl.d"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        for name in ("dhcp", "network"):
            shutil.copy(CONFIGS / config / name, self.root / "etc/config" / name)
        (self.root / "etc/config/rpcd").write_text(RPCD_CONFIG)
        (self.root / "usr/share/rpcd/acl.d/baremetal-lb.json").write_text(
            acl if acl is not None else ACL_FILE.read_text()
        )
        self.restart_log = tmp_path / "restarts"
        for service in ("dnsmasq", "odhcpd"):
            script = self.root / "etc/init.d" / service
            script.write_text(f'#!/bin/sh\necho "{service} $1" >> {self.restart_log}\nexit ${{FAKE_RESTART_RC:-0}}\n')
            script.chmod(0o755)
        self.rpcd = FakeRpcd(self.root, passwords={"root": "root-password", USER: PASSWORD})
        self.runner = uci.Runner({"FAKE_UCI_ROOT": str(self.root)})

    def __enter__(self) -> FakeOpenwrt:
        self.rpcd.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.rpcd.stop()

    # -- looking at the router ---------------------------------------------------------------------------------
    def uci(self, *argv: str) -> str:
        rc, out, err = uci.run(str(self.root), list(argv))
        assert rc == 0, (argv, err)
        return out

    def dhcp_file(self) -> str:
        return (self.root / "etc/config/dhcp").read_text()

    def restarts(self) -> list[str]:
        """Every restart the router saw: over rpcd (``file exec``) and by the init scripts themselves."""
        lines = self.restart_log.read_text().splitlines() if self.restart_log.exists() else []
        return [e.replace("/etc/init.d/", "") for e in self.rpcd.executed] + lines

    def write_leases(self, text: str) -> Path:
        path = self.root / "tmp/dhcp.leases"
        path.write_text(text)
        return path

    # -- the module's view -------------------------------------------------------------------------------------
    def params(self, transport: str = "rpcd", **extra: Any) -> dict[str, Any]:
        params: dict[str, Any] = {"openwrt_transport": transport, "timeout": 5, "validate_certs": True}
        if transport == "rpcd":
            params.update(api_url=self.rpcd.url, api_username=USER, api_password=PASSWORD)
        else:
            params.update(
                uci_command=str(UCI),
                lease_file=str(self.root / "tmp/dhcp.leases"),
                restart_command=[str(self.root / "etc/init.d/dnsmasq"), "restart"],
            )
        params.update(extra)
        return params

    def backend(self, transport: str = "rpcd", **extra: Any):
        from ansible_collections.baremetal.lb.plugins.module_utils.backend_openwrt import OpenwrtBackend

        return OpenwrtBackend.from_params(self.params(transport, **extra), self.runner)
