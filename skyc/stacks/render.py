"""Offline rendering: run a provider's stack program under Pulumi's mocks and list every
resource it would register, with its inputs. Powers the plan's resource list and provider tests.

A provider may answer for its own resources and data sources under mocks with
`mock_outputs(type, name, inputs) -> dict | None` (outputs a real apply would add, keyed by wire
names) and `mock_call(token, args) -> dict | None` (data-source results).

Also answers whether a real engine preview is possible here (`preview_available`).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import importlib.util
import re
import threading
from typing import Any, Iterator

from skyc.stacks import registry
from skyc.stacks.base import StackSpec

_LOCK = threading.Lock()  # the Pulumi runtime settings are process-global
_DROP_INPUTS = {"__provider"}  # the pickled dynamic provider: bytes, not a plan input
SECRET = "[secret]"
_SECRET_SIG_KEY, _SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"  # Pulumi wire format


def render_resources(spec: StackSpec) -> list[dict[str, Any]]:
    """Every resource the spec's program registers: [{"type", "name", "inputs"}], sorted by
    type then name. Raises the provider's SpecError/ProviderError for bad input."""
    return render(spec)["resources"]


def render(spec: StackSpec, *, kept: bool = True) -> dict[str, Any]:
    """{"resources": [...], "invokes": [data-source look-ups], "outputs": {stack outputs under
    mocks}, "warnings": [...]}. `kept=False` always runs the program (benchmarks)."""
    provider = registry.get(spec.provider)
    provider.validate(spec)
    key = _cache_key(spec, provider) if kept else None
    cached = _cache_read(key)
    if cached is not None:
        return cached
    # A generated name (a plan without -c) is new every time: keep the rendering of the same spec
    # under a stand-in of the same shape, and rename it.
    by_shape = key is not None and _GENERATED.match(spec.stack) is not None
    stand_in = spec.model_copy(update={"stack": STAND_IN})
    shape_key = _cache_key(stand_in, provider) if by_shape else None
    kept_shape = _cache_read(shape_key)
    if kept_shape is not None:
        return _renamed(kept_shape, spec.stack)
    out = _render(spec, provider)
    _cache_write(key, out)
    if shape_key is not None:
        other = _render(stand_in, provider)
        if _renamed(other, spec.stack) == out:  # the name reaches the stack only as written: shape is enough
            _cache_write(shape_key, other)
    return out


def _render(spec: StackSpec, provider: Any) -> dict[str, Any]:
    if provider.python_package:
        from skyc.stacks import sdk_slice

        sdk_slice.install(provider.python_package)  # a render needs a dozen of the SDK's classes, not all
    program = provider.program(spec)
    with _LOCK, _collector_paused():
        mocks, outputs = _run_mocked(program, spec.stack, provider)
    return {
        "resources": sorted(mocks.recorded, key=lambda r: (r["type"], r["name"])),
        "invokes": sorted(mocks.invokes, key=lambda r: (r["token"], repr(r["args"]))),
        "outputs": _plain(outputs),
        "warnings": render_warnings(spec),
    }


_GENERATED = re.compile(r"^skyc-[0-9a-f]{4}$")  # plan.generated_cluster_name()
STAND_IN = "skyc-0c0c"


def _renamed(out: dict[str, Any], name: str) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(out).replace(STAND_IN, name))


# Rendering a cloud stack is dominated by importing its Pulumi SDK (seconds); the result is a
# pure function of the spec, config.yaml, the provider code and the SDK version, so it is kept.
_CACHE_ENTRIES = 256


def _cache_key(spec: StackSpec, provider: Any) -> str | None:
    import inspect
    import json
    from importlib import metadata
    from pathlib import Path

    from skyc import __version__, paths

    if not provider.python_package:
        return None  # no SDK to import: rendering is cheap, and e.g. SSH pools depend on more than the spec
    try:
        sdk = metadata.version(provider.python_package)
        here = Path(__file__).parent
        sources = [Path(inspect.getfile(type(provider))), here / "common.py", here / "base.py", Path(__file__),
                   *sorted((here / "templates").glob("*"))]
        stamps = [(p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sources]
        config = paths.config_file().read_bytes() if paths.config_file().exists() else b""
    except (OSError, metadata.PackageNotFoundError, TypeError):
        return None
    h = hashlib.sha256(json.dumps([__version__, sdk, stamps, spec.model_dump(mode="json")], sort_keys=True).encode())
    h.update(config)
    return h.hexdigest()


def _cache_dir():
    from skyc import paths

    return paths.catalog_cache_dir() / "render"


def _cache_read(key: str | None) -> dict[str, Any] | None:
    import json

    if key is None:
        return None
    try:
        return json.loads((_cache_dir() / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None


def _cache_write(key: str | None, out: dict[str, Any]) -> None:
    import json
    import os

    if key is None:
        return
    d = _cache_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{key}.{os.getpid()}"
        tmp.write_text(json.dumps(out))
        os.replace(tmp, d / f"{key}.json")
        entries = sorted(d.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for old in entries[:-_CACHE_ENTRIES]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # a cache that cannot be written only costs time


def render_warnings(spec: StackSpec) -> list[str]:
    """Notes the provider attaches to this spec (e.g. SSH open to the whole internet)."""
    provider = registry.get(spec.provider)
    warnings = getattr(provider, "warnings", None)
    return list(warnings(spec)) if warnings is not None else []


def preview_available(spec: StackSpec) -> tuple[bool, str]:
    """Whether `plan --preview` can run a real engine preview for this spec, and why not."""
    from skyc import errors

    provider = registry.get(spec.provider)
    if provider.python_package and importlib.util.find_spec(provider.python_package) is None:
        return False, f"the Python package {provider.python_package} is not installed"
    report = provider.check_credentials()
    if not report.enabled:
        return False, f"{provider.display_name} credentials not found: {report.reason}"
    try:
        from skyc.stacks import pulumi_cli

        pulumi_cli.find(build_if_missing=False)
    except errors.SkycError as e:
        return False, f"no usable Pulumi CLI: {e}"
    plugin = getattr(provider, "pulumi_plugin", None)
    if plugin and not _plugin_installed(plugin):
        return False, (
            f"the Pulumi resource plugin {plugin!r} is not installed and cannot be downloaded offline "
            f"(install it with `pulumi plugin install resource {plugin}`)"
        )
    return True, "real preview available"


def _plugin_installed(name: str) -> bool:
    import os
    import shutil

    from skyc import paths

    if shutil.which(f"pulumi-resource-{name}"):
        return True
    roots = [paths.pulumi_home() / "plugins", os.path.expanduser("~/.pulumi/plugins")]
    from pathlib import Path

    return any(Path(r).is_dir() and any(Path(r).glob(f"resource-{name}-v*")) for r in roots)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """A render allocates many short-lived objects next to the cloud SDKs' large module graphs;
    cyclic collections in between rescan those graphs and took up to half the render time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run_mocked(program, stack: str, provider) -> tuple[Any, dict[str, Any]]:
    import asyncio

    import pulumi
    from pulumi.runtime import settings
    from pulumi.runtime.stack import run_pulumi_func

    mocks = _Mocks(provider)
    outputs: dict[str, Any] = {}

    def program_and_outputs() -> None:
        pulumi.runtime.register_stack_transformation(_drop_aliases)
        program()
        root = settings.get_root_resource()
        exported = dict(getattr(root, "outputs", {}) or {})
        pulumi.Output.all(**exported).apply(outputs.update)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        settings.set_root_resource(None)  # a fresh root Stack bound to this loop
        pulumi.runtime.set_mocks(mocks, project="skyc", stack=stack, preview=False)
        loop.run_until_complete(run_pulumi_func(program_and_outputs))
    finally:
        settings.set_root_resource(None)
        asyncio.set_event_loop(None)
        loop.close()
    return mocks, outputs


def _drop_aliases(args):
    """Stack transformation used only under mocks: aliases map old type names onto existing
    state (some SDKs list dozens per type); there is no state here, and resolving them
    dominates the time of large renders."""
    import copy

    import pulumi

    if args.opts is None or not args.opts.aliases:
        return None
    opts = copy.copy(args.opts)
    opts.aliases = []
    return pulumi.ResourceTransformationResult(args.props, opts)


def _plain(value: Any) -> Any:
    """Wire values as a plan shows them: integral floats back to ints, keys sorted, secrets masked."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        if value.get(_SECRET_SIG_KEY) == _SECRET_SIG:
            return SECRET  # a plan may end up in a pull-request comment: never show secrets
        return {k: _plain(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def fake_ip(name: str, prefix: str) -> str:
    """A stable made-up address for a mocked resource (providers use it in `mock_outputs`)."""
    h = hashlib.sha256(name.encode()).digest()
    return f"{prefix}.{h[0]}.{h[1] % 254 + 1}"


def _mocks_class():
    import pulumi

    class Mocks(pulumi.runtime.Mocks):
        """Plausible ids and outputs for every resource type skyc registers; records inputs."""

        def __init__(self, provider) -> None:
            self.provider = provider
            self.recorded: list[dict[str, Any]] = []
            self.invokes: list[dict[str, Any]] = []
            self._lock = threading.Lock()

        def new_resource(self, args: pulumi.runtime.MockResourceArgs):
            inputs = {k: v for k, v in args.inputs.items() if k not in _DROP_INPUTS}
            with self._lock:
                self.recorded.append({"type": args.typ, "name": args.name, "inputs": _plain(inputs)})
            state = dict(args.inputs)
            state.setdefault("name", args.name)
            state.update(_outputs_for(self.provider, args.typ, args.name, args.inputs))
            return f"{args.name}-id", state

        def call(self, args: pulumi.runtime.MockCallArgs):
            with self._lock:
                self.invokes.append({"token": args.token, "args": _plain(dict(args.args))})
            return _invoke_result(self.provider, args.token, dict(args.args))

    return Mocks


def _Mocks(provider):
    return _mocks_class()(provider)


def _outputs_for(provider, typ: str, name: str, inputs: dict) -> dict[str, Any]:
    """Outputs a real apply would add: the provider's own answer, else a generic one."""
    hook = getattr(provider, "mock_outputs", None)
    found = hook(typ, name, inputs) if hook is not None else None
    if found is not None:
        return found
    if typ.startswith("pulumi-python:dynamic") and not inputs.get("facts"):
        # Dynamic nodes report what they found on the machine: answer with a plausible node.
        address = fake_ip(name, "10.0")
        node = inputs.get("node") or name
        return {"facts": {"name": node, "address": address, "ip": address, "port": int(inputs.get("port") or 22),
                          "user": "user", "home": None, "host_key": None}, "running": True}
    return {}


def _invoke_result(provider, token: str, args: dict) -> dict[str, Any]:
    hook = getattr(provider, "mock_call", None)
    return (hook(token, args) if hook is not None else None) or {}
