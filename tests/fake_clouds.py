"""Local HTTP servers that implement the documented parts of Lambda Cloud's and RunPod's REST
APIs that skyc uses, with their error responses (no capacity, bad key, rate limit, not found).
Loopback only; each test starts its own and stops it."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator


@contextlib.contextmanager
def serving(api: "FakeAPI", monkeypatch, url_env: str, home: Path) -> Iterator["FakeAPI"]:
    """Run `api` and point skyc (and the engine's dynamic-provider plugin, through the
    environment) at it, with `home` as HOME and short polls and backoffs."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(Path("~/.cache").expanduser()))  # the Pulumi CLI build stays found
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv(url_env, api.start().url)
    monkeypatch.setenv("SKYC_API_POLL_S", "0.05")
    monkeypatch.setenv("SKYC_API_BACKOFF_S", "0.01")
    try:
        yield api
    finally:
        api.stop()


class FakeAPI:
    """Base: routing, auth, injected rate limits and a request log."""

    key = "test-key"

    def __init__(self):
        self.requests: list[tuple[str, str, Any]] = []
        self.rate_limit_next = 0  # answer the next N requests with 429
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                with api.lock:
                    api.requests.append((method, self.path, body))
                    if api.rate_limit_next > 0:
                        api.rate_limit_next -= 1
                        status, payload = 429, api.rate_limited()
                    elif self.headers.get("Authorization") != f"Bearer {api.key}":
                        status, payload = api.unauthorized()
                    else:
                        status, payload = api.route(method, self.path, body)
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def do_PUT(self):
                self._serve("PUT")

            def do_DELETE(self):
                self._serve("DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{self.prefix}"

    prefix = ""

    def start(self) -> "FakeAPI":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, method: str, path_start: str) -> list[Any]:
        return [b for m, p, b in self.requests if m == method and p.startswith(self.prefix + path_start)]

    def rate_limited(self) -> Any:
        return None

    def unauthorized(self) -> tuple[int, Any]:
        raise NotImplementedError

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        raise NotImplementedError


class FakeLambda(FakeAPI):
    """`/api/v1`: instance-types, instance-operations/launch|terminate, instances, ssh-keys,
    firewall-rules. Errors are `{"error": {"code", "message", "suggestion"}}`."""

    prefix = "/api/v1"

    def __init__(self, types: dict[str, list[str]]):
        super().__init__()
        self.types = types  # instance type -> regions that advertise capacity
        self.launch_fails_in: set[str] = set()  # regions that advertise capacity but lose it at launch
        self.instances: dict[str, dict] = {}
        self.keys: dict[str, dict] = {}
        self.firewall: list[dict] = []
        self.boot_polls = 1  # GET /instances/{id} answers "booting" this many times first

    @staticmethod
    def _error(status: int, code: str, message: str, suggestion: str | None = None) -> tuple[int, Any]:
        err = {"code": code, "message": message}
        if suggestion:
            err["suggestion"] = suggestion
        return status, {"error": err}

    def rate_limited(self) -> Any:
        return {"error": {"code": "global/quota-exceeded", "message": "Too many requests"}}

    def unauthorized(self):
        return self._error(401, "global/invalid-api-key", "API key was invalid, expired, or deleted.",
                           "Check your API key or create a new one, then try again.")

    def live(self) -> list[dict]:
        return [i for i in self.instances.values() if i["status"] != "terminated"]

    def route(self, method, path, body):
        path = path[len(self.prefix):]
        if method == "GET" and path == "/instance-types":
            return 200, {"data": {t: {"instance_type": {"name": t, "price_cents_per_hour": 1032},
                                      "regions_with_capacity_available": [{"name": r, "description": r} for r in regions]}
                                  for t, regions in self.types.items()}}
        if method == "POST" and path == "/instance-operations/launch":
            region, itype = body["region_name"], body["instance_type_name"]
            if itype not in self.types:
                return self._error(400, "global/invalid-parameters", f"Invalid instance type {itype}")
            if region not in self.types[itype] or region in self.launch_fails_in:
                return self._error(400, "instance-operations/launch/insufficient-capacity",
                                   "Not enough capacity to fulfill launch request.", "Choose an instance type with more availability, or try again later.")
            if not set(body["ssh_key_names"]) <= {k["name"] for k in self.keys.values()}:
                return self._error(400, "global/invalid-parameters", "Specified SSH key does not exist.")
            iid = f"inst{next(self.ids):04d}"
            n = len(self.instances) + 1
            self.instances[iid] = {"id": iid, "name": body.get("name"), "status": "booting", "polls": 0,
                                   "region": {"name": region}, "instance_type": {"name": itype},
                                   "ssh_key_names": body["ssh_key_names"], "user_data": body.get("user_data"),
                                   "ip": f"192.0.2.{n}", "private_ip": f"10.19.0.{n}"}
            return 200, {"data": {"instance_ids": [iid]}}
        if method == "GET" and path == "/instances":
            return 200, {"data": [{k: v for k, v in i.items() if k not in ("polls", "user_data")} for i in self.live()]}
        if method == "GET" and path.startswith("/instances/"):
            inst = self.instances.get(path.rsplit("/", 1)[1])
            if inst is None:
                return self._error(404, "global/object-does-not-exist", "Specified instance does not exist.")
            if inst["status"] == "booting":
                inst["polls"] += 1
                if inst["polls"] > self.boot_polls:
                    inst["status"] = "active"
            view = {k: v for k, v in inst.items() if k not in ("polls", "user_data")}
            if inst["status"] == "booting":
                view.pop("ip")
            return 200, {"data": view}
        if method == "POST" and path == "/instance-operations/terminate":
            ids = body["instance_ids"]
            if any(i not in self.instances or self.instances[i]["status"] == "terminated" for i in ids):
                return self._error(404, "global/object-does-not-exist", "Specified instance does not exist.")
            for i in ids:
                self.instances[i]["status"] = "terminated"
            return 200, {"data": {"terminated_instances": [self.instances[i] for i in ids]}}
        if path == "/ssh-keys" and method == "GET":
            return 200, {"data": list(self.keys.values())}
        if path == "/ssh-keys" and method == "POST":
            if any(k["name"] == body["name"] for k in self.keys.values()):
                return self._error(400, "global/invalid-parameters", "SSH key name already in use.")
            kid = f"key{next(self.ids):04d}"
            self.keys[kid] = {"id": kid, "name": body["name"], "public_key": body["public_key"]}
            return 200, {"data": self.keys[kid]}
        if path.startswith("/ssh-keys/") and method == "DELETE":
            if self.keys.pop(path.rsplit("/", 1)[1], None) is None:
                return self._error(404, "global/object-does-not-exist", "Specified SSH key does not exist.")
            return 200, {"data": {}}
        if path == "/firewall-rules" and method == "GET":
            return 200, {"data": list(self.firewall)}
        if path == "/firewall-rules" and method == "PUT":
            self.firewall = list(body["data"])
            return 200, {"data": list(self.firewall)}
        return self._error(404, "global/object-does-not-exist", f"no route {method} {path}")


class FakeRunPod(FakeAPI):
    """`/v1`: POST/GET/DELETE pods. Errors are `{"error": "...", "status": N}`."""

    prefix = "/v1"

    def __init__(self, capacity: set[str]):
        super().__init__()
        self.capacity = capacity  # data center ids (or country codes) with free GPUs
        self.pods: dict[str, dict] = {}
        self.start_polls = 1  # GET /pods/{id} shows no public SSH port this many times first

    def unauthorized(self):
        return 401, {"error": "Unauthorized: invalid API key", "status": 401}

    def route(self, method, path, body):
        path = path[len(self.prefix):]
        if method == "POST" and path == "/pods":
            where = set(body.get("dataCenterIds") or body.get("countryCodes") or [])
            if not where & self.capacity:
                return 400, {"error": "create pod: There are no longer any instances available with the requested "
                                      "specifications. Please refresh and try again.", "status": 400}
            pid = f"pod{next(self.ids):04d}"
            self.pods[pid] = {"id": pid, "name": body["name"], "desiredStatus": "RUNNING", "publicIp": None,
                              "portMappings": {}, "interruptible": body.get("interruptible", False),
                              "costPerHr": 2.69, "body": body, "polls": 0}
            return 201, {k: v for k, v in self.pods[pid].items() if k not in ("body", "polls")}
        if method == "GET" and path == "/pods":
            return 200, [{k: v for k, v in p.items() if k not in ("body", "polls")} for p in self.live()]
        if path.startswith("/pods/"):
            pod = self.pods.get(path.rsplit("/", 1)[1])
            if pod is None or pod["desiredStatus"] == "TERMINATED":
                return 404, {"error": "pod not found", "status": 404}
            if method == "DELETE":
                pod["desiredStatus"] = "TERMINATED"
                return 200, None
            if method == "GET":
                pod["polls"] += 1
                if pod["polls"] > self.start_polls:
                    pod["publicIp"] = "192.0.2.50"
                    pod["portMappings"] = {"22": 40022, **{p.split("/")[0]: 41000 + i for i, p in enumerate(pod["body"]["ports"][1:])}}
                return 200, {k: v for k, v in pod.items() if k not in ("body", "polls")}
        return 404, {"error": f"no route {method} {path}", "status": 404}

    def live(self) -> list[dict]:
        return [p for p in self.pods.values() if p["desiredStatus"] != "TERMINATED"]
