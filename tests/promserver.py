"""A real Prometheus server (Debian's ``prometheus``) for tests: runs in a test namespace, scrapes every 1 s.

Started on the namespace's loopback with its TSDB in a temp dir; ``Lab.close`` / ``stop()`` ends it. Queried
through its HTTP API (``/api/v1/query``, ``/api/v1/alerts``, ``/api/v1/targets``) from inside the namespace.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.netlab import Host
from tests.waiting import free_port, wait_for

JOB = "baremetal-lb-speaker"  # the job name monitoring/alerts.yaml and docs/monitoring.md expect


class Prometheus:
    def __init__(
        self,
        host: Host,
        tmp: Path,
        targets: list[str],
        rule_files: list[Path] | None = None,
        bearer_token_file: Path | None = None,
        ca_file: Path | None = None,
    ) -> None:
        binary = shutil.which("prometheus")
        assert binary, "prometheus not found: install Debian's prometheus package (scripts/install-deps does)"
        self.binary = binary
        self.host = host
        self.dir = tmp / "prometheus"
        self.dir.mkdir(exist_ok=True)
        self.port = free_port()
        self.config = self.dir / "prometheus.yml"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(p) for p in rule_files or []],
                    "scrape_configs": [
                        {
                            "job_name": JOB,
                            "static_configs": [{"targets": targets}],
                            **(
                                {"authorization": {"credentials_file": str(bearer_token_file)}}
                                if bearer_token_file
                                else {}
                            ),
                            **({"scheme": "https", "tls_config": {"ca_file": str(ca_file)}} if ca_file else {}),
                        }
                    ],
                },
                sort_keys=False,
            )
        )
        self.log = self.dir / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Prometheus:
        self.proc = self.host.popen(
            [
                self.binary,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
        )
        wait_for("prometheus to be ready", lambda: self._get("/-/ready", raw=True) is not None, timeout=30)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def _get(self, path: str, raw: bool = False) -> Any:
        def get() -> Any:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                    body = r.read()
                    return body if raw else json.loads(body)
            except OSError:
                return None

        return self.host.call(get)

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        assert data and data["status"] == "success", data
        return data["data"]["result"]

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts (a resolved alert is no longer listed)."""
        data = self._get("/api/v1/alerts")
        assert data and data["status"] == "success", data
        return data["data"]["alerts"]

    def targets_up(self) -> dict[str, bool]:
        return {r["metric"]["instance"]: r["value"][1] == "1" for r in self.query(f'up{{job="{JOB}"}}')}

    def metric_names(self) -> set[str]:
        """Every metric name scraped from the speakers (the label-values API on __name__)."""
        data = self._get("/api/v1/label/__name__/values?" + urllib.parse.urlencode({"match[]": f'{{job="{JOB}"}}'}))
        assert data and data["status"] == "success", data
        return set(data["data"])

    def metadata(self) -> dict[str, str]:
        """Metric name → type, as Prometheus understood the ``# TYPE`` lines it scraped."""
        data = self._get("/api/v1/metadata")
        assert data and data["status"] == "success", data
        return {name: entries[0]["type"] for name, entries in data["data"].items()}


def self_signed(directory: Path, ips: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate (its own CA) for ``ips`` and its key, made by openssl: (cert, key)."""
    openssl = shutil.which("openssl")
    assert openssl, "openssl not found (scripts/install-deps installs it)"
    cert, key = directory / "metrics.crt", directory / "metrics.key"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=baremetal-lb test",
            "-addext",
            "subjectAltName=" + ",".join(f"IP:{ip}" for ip in ips),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key
