"""The gateway role of a farm node: serve each gateway name the chain placed here, forwarding
to wherever its replicas run now.

The proxy is nginx, a real reverse proxy; this module only keeps its configuration equal to
what the chain wants, level-triggered like the deployer: every round it renders the routes the
chain lists for this node (GET /v1/nodes/{id}/routes) into a configuration, and when that
differs from the one nginx runs, or nginx is not running, it checks the new one (`nginx -t`)
and starts nginx or has it reload (SIGHUP). nginx runs in the foreground as this process's
child, in its process group, so stopping the node's processes stops it too; a gateway that
outlived a killed agent is found by its pid file and reloaded, not started twice.
"""

import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.errors import LocalFault

HOST = re.compile(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\Z")
BACKEND = re.compile(r"https?://[A-Za-z0-9.:\[\]-]+(:[0-9]{1,5})?/?\Z")


class GatewayError(LocalFault):
    """nginx is missing, refuses the configuration, or does not start."""

    code = "gateway_error"


@dataclass(frozen=True)
class Route:
    host: str
    backends: tuple[str, ...]


def routes_from(view: dict[str, Any]) -> list[Route]:
    """The routes of the API's answer, keeping only what is safe to write into a config."""
    routes = []
    for r in view["routes"]:
        host = str(r["host"])
        if not HOST.match(host):
            continue
        backends = tuple(b for b in r["backends"] if isinstance(b, str) and BACKEND.match(b))
        routes.append(Route(host, backends))
    return sorted(routes, key=lambda r: r.host)


def render(routes: list[Route], listen: str, directory: Path) -> str:
    """The whole nginx configuration: a 404 for unknown names, a 503 for a name with no
    running backend (not deployed yet, or paused), and an upstream per served name."""
    d = directory
    lines = [
        f"pid {d}/nginx.pid;",
        f"error_log {d}/error.log warn;",
        "daemon off;",
        "worker_processes 1;",
        "events { worker_connections 512; }",
        "http {",
        f"  access_log {d}/access.log;",
        *(f"  {kind}_temp_path {d}/tmp/{kind};" for kind in TEMP_KINDS),
        "  proxy_set_header Host $host;",
        "  proxy_set_header X-Forwarded-For $remote_addr;",
        "  proxy_connect_timeout 5s;",
        "  server {",
        f"    listen {listen} default_server;",
        '    return 404 "no workload is served under this name here\\n";',
        "  }",
    ]
    for i, route in enumerate(routes):
        lines += ["  server {", f"    listen {listen};", f"    server_name {route.host};"]
        if route.backends:
            lines += [f"    location / {{ proxy_pass http://backend{i}; }}"]
        else:
            lines += ['    return 503 "the workload is not running now\\n";']
        lines += ["  }"]
        if route.backends:
            servers = [f"server {b.split('://', 1)[1].rstrip('/')};" for b in route.backends]
            lines += [f"  upstream backend{i} {{ {' '.join(servers)} }}"]
    lines += ["}"]
    return "\n".join(lines) + "\n"


TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


class Gateway:
    """nginx under `directory`, listening on `listen` (host:port)."""

    def __init__(self, directory: Path, listen: str) -> None:
        binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
        if binary is None:
            raise GatewayError("nginx is not installed (`make install` installs it)")
        self.nginx = binary
        self.directory = directory.resolve()
        self.listen = listen
        self.config = self.directory / "nginx.conf"
        self.child: subprocess.Popen[bytes] | None = None
        for kind in TEMP_KINDS:
            (self.directory / "tmp" / kind).mkdir(parents=True, exist_ok=True)

    def running_pid(self) -> int | None:
        """The nginx master serving this directory, if it is alive (ours or one that outlived
        an earlier agent)."""
        if self.child is not None and self.child.poll() is not None:
            self.child = None
        try:
            pid = int((self.directory / "nginx.pid").read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def reconcile(self, routes: list[Route]) -> bool:
        """Make nginx serve `routes`; True if anything changed."""
        wanted = render(routes, self.listen, self.directory)
        current = self.config.read_text() if self.config.exists() else None
        pid = self.running_pid()
        if wanted == current and pid is not None:
            return False
        candidate = self.directory / "nginx.conf.new"
        candidate.write_text(wanted)
        check = self.run("-t", "-c", str(candidate))
        if check.returncode != 0:
            raise GatewayError(f"nginx refuses the configuration: {check.stderr.strip()}")
        candidate.replace(self.config)
        if pid is None:
            self.start()
        else:
            os.kill(pid, signal.SIGHUP)
        return True

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [self.nginx, "-p", str(self.directory), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)

    def start(self) -> None:
        log = (self.directory / "nginx.out").open("ab")
        self.child = subprocess.Popen(
            [self.nginx, "-p", str(self.directory), "-c", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()

    def stop(self) -> None:
        pid = self.running_pid()
        if pid is not None:
            os.kill(pid, signal.SIGQUIT)  # graceful: finish the requests in flight
        if self.child is not None:
            try:
                self.child.wait(10)
            except subprocess.TimeoutExpired:
                self.child.kill()
            self.child = None
