"""Load only the parts of a Pulumi provider SDK that a program touches, for offline rendering.

A generated SDK package (`pulumi_gcp`, `pulumi_gcp.compute`) imports every resource module and two
modules of all its input/output types (`_inputs`, `outputs`, with `_enums`) when first touched:
90,000 lines and most of a second for GCP's compute, of which a cluster uses a dozen classes; the
top package also registers every module for deserialising resource references, which a render
under mocks never does. While rendering, an import hook serves such packages lazily: a name is
looked up in an index of the package, its resource module is loaded from the SDK's own code
(bytecode cache included), and the type modules receive just the definitions that module names,
and those they name in turn, compiled from the SDK's own source text. The classes are the SDK's, so resources register with the same types and inputs as
with the whole package; only the unused definitions are missing. `apply` never uses this.

The index (definition boundaries and the names each definition mentions) is built once per SDK
version and kept under the machine's cache directory.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import marshal
import os
import pickle
import re
import sys
import threading
import types
from pathlib import Path
from types import ModuleType
from typing import Any

TYPE_MODULES = ("_inputs", "outputs", "_enums")
INDEX_FORMAT = 4
_STAR = re.compile(r"^from \.(\w+) import \*$", re.M)
_NAME = re.compile(r"[A-Za-z_]\w*")
# Top-level definitions; one indent deeper only inside `if not MYPY:`-style blocks.
_DEFINES = re.compile(r"^(?:class\s+(\w+)|(\w+)\s*(?::[^=\n]*)?=)", re.M)
_DEFINES_IN_IF = re.compile(r"^    (?:class\s+(\w+)|(\w+)\s*:\s*TypeAlias\s*=)", re.M)
_CONTINUES = ("elif", "else", "except", "finally", ")", "]", "}", "#")
_LOCK = threading.Lock()


def _blocks(text: str) -> tuple[int, list[tuple[int, int, int]]]:
    """(end of the header, [(start, end, first line - 1) of each top-level definition])."""
    starts: list[tuple[int, int]] = []
    pos = 0
    decorated = False
    for lineno, line in enumerate(text.splitlines(keepends=True)):
        if line[:1] not in ("", " ", "\t", "\n", "\r") and not line.startswith(_CONTINUES):
            if not decorated:  # a decorator and what it decorates are one block
                starts.append((pos, lineno))
            decorated = line.startswith("@")
        pos += len(line)
    starts.append((len(text), 0))
    # The header runs through `__all__ = [...]` (or up to the first definition without one).
    all_at = text.find("\n__all__")
    header_end = text.find("\n]", all_at) + 2 if all_at >= 0 else 0
    if all_at < 0:
        first = re.search(r"^(?:@|class )", text, re.M)
        header_end = first.start() if first else len(text)
    spans = [(a, b, line) for (a, line), (b, _) in zip(starts, starts[1:]) if a >= header_end]
    return header_end, spans


def _shifted(code: types.CodeType, lines: int) -> types.CodeType:
    """`code` compiled from a block, renumbered to the block's lines in its file (line tables are
    relative to each code object's first line)."""
    consts = tuple(_shifted(c, lines) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_firstlineno=code.co_firstlineno + lines, co_consts=consts)


def build_index(pkg_dir: Path) -> dict[str, Any]:
    """The index of one (sub)package: where each name is defined and what each definition names."""
    star = _STAR.findall((pkg_dir / "__init__.py").read_text(encoding="utf-8"))
    resources: dict[str, str] = {}  # public name -> the resource module defining it
    for mod in star:
        if mod in TYPE_MODULES:
            continue
        text = (pkg_dir / f"{mod}.py").read_text(encoding="utf-8")
        m = re.search(r"^__all__\s*=\s*\[(.*?)\]", text, re.M | re.S)
        for name in re.findall(r"['\"](\w+)['\"]", m.group(1) if m else ""):
            resources.setdefault(name, mod)
    modules: dict[str, dict[str, Any]] = {}
    defined: dict[str, tuple[str, int]] = {}  # name -> (type module, block)
    for mod in TYPE_MODULES:
        path = pkg_dir / f"{mod}.py"
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        header_end, spans = _blocks(text)
        all_at = text.find("\n__all__")
        header = text[: all_at + 1] if 0 <= all_at < header_end else text[:header_end]  # `__all__` is set as defined
        modules[mod] = {"header": header, "star": _STAR.findall(header), "spans": spans, "refs": []}
        for i, (a, b, _) in enumerate(spans):
            pattern = _DEFINES_IN_IF if text.startswith("if ", a) else _DEFINES
            for m in pattern.finditer(text, a, b):
                name = m.group(1) or m.group(2)
                if name and name not in ("__all__",):
                    defined.setdefault(name, (mod, i))
    for mod, info in modules.items():
        text = (pkg_dir / f"{mod}.py").read_text(encoding="utf-8")
        info["refs"] = [sorted({defined[n] for n in set(_NAME.findall(text, a, b)) if n in defined})
                        for a, b, _ in info["spans"]]
    return {"format": INDEX_FORMAT, "resources": resources, "defined": defined, "types": modules}


@functools.lru_cache(maxsize=None)
def _sdk_version(pkg: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "unknown"


def _index_path(pkg: str, subpkg: str) -> Path:
    from skyc import paths

    # compiled code is kept with the index: one directory per interpreter (bytecode differs)
    tag = sys.implementation.cache_tag
    return paths.cache_dir() / "sdk-index" / f"{pkg}-{_sdk_version(pkg)}-{tag}" / f"{subpkg}.pickle"


def load_index(pkg: str, subpkg: str, pkg_dir: Path) -> dict[str, Any]:
    path = _index_path(pkg, subpkg)
    try:
        with path.open("rb") as f:
            index = pickle.load(f)
        if index.get("format") == INDEX_FORMAT:
            return index
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError, KeyError, TypeError):
        pass
    index = build_index(pkg_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        with tmp.open("wb") as f:
            pickle.dump(index, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache only costs time
    return index


class _Subpackage:
    """The slicing state of one subpackage: its index, the type modules and what they hold so far."""

    def __init__(self, name: str, pkg_dir: Path):
        self.name, self.dir = name, pkg_dir
        root, _, rest = name.partition(".")
        self.index = load_index(root, rest or "__root__", pkg_dir)
        self.loaded: dict[str, set[int]] = {mod: set() for mod in self.index["types"]}
        self._text: dict[str, str] = {}
        self._code_path = _index_path(root, rest or "__root__").with_suffix(".code.pickle")
        self._code: dict[tuple[str, Any], Any] | None = None  # (module, block) -> marshalled code
        self._dirty = False

    def _kept(self) -> dict:
        if self._code is None:
            try:
                with self._code_path.open("rb") as f:
                    self._code = pickle.load(f)
            except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError, KeyError, TypeError):
                self._code = {}
        return self._code

    def needs(self, leaf: str, origin: Path) -> set[str]:
        """The type names a resource module mentions (found once, then kept with the code)."""
        kept = self._kept()
        if ("needs", leaf) not in kept:
            kept[("needs", leaf)] = sorted(self.names_in(origin.read_text(encoding="utf-8")))
            self._dirty = True
        return set(kept[("needs", leaf)])

    def code(self, mod: str, i: int) -> types.CodeType:
        """A definition's code: compiled once, then kept next to the index."""
        raw = self._kept().get((mod, i))
        if raw is not None:
            return marshal.loads(raw)
        a, b, line = self.index["types"][mod]["spans"][i]
        code = _shifted(compile(self.text(mod)[a:b], str(self.dir / f"{mod}.py"), "exec"), line)
        self._code[(mod, i)] = marshal.dumps(code)
        self._dirty = True
        return code

    def save_code(self) -> None:
        if not self._dirty or self._code is None:
            return
        self._dirty = False
        try:
            tmp = self._code_path.with_suffix(f".tmp{os.getpid()}")
            with tmp.open("wb") as f:
                pickle.dump(self._code, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self._code_path)
        except OSError:
            pass

    def text(self, mod: str) -> str:
        if mod not in self._text:
            self._text[mod] = (self.dir / f"{mod}.py").read_text(encoding="utf-8")
        return self._text[mod]

    def ensure(self, names: set[str]) -> None:
        """Define `names` (and everything their definitions name) in the type modules."""
        todo = [self.index["defined"][n] for n in names if n in self.index["defined"]]
        wanted: dict[str, set[int]] = {}
        while todo:
            mod, i = todo.pop()
            if i in self.loaded[mod] or i in wanted.setdefault(mod, set()):
                continue
            wanted[mod].add(i)
            todo.extend(tuple(ref) for ref in self.index["types"][mod]["refs"][i])
        for mod in TYPE_MODULES:
            if wanted.get(mod):
                self._run(mod, sorted(wanted[mod]))

    def _run(self, mod: str, blocks: list[int]) -> None:
        module = importlib.import_module(f"{self.name}.{mod}")
        self.loaded[mod].update(blocks)  # first: definitions may import their siblings
        for i in blocks:
            exec(self.code(mod, i), module.__dict__)  # noqa: S102 - the SDK's own code
        self.save_code()
        module.__all__ = sorted(n for n, (m, i) in self.index["defined"].items() if m == mod and i in self.loaded[mod]
                                and not n.startswith("_"))
        # A type module that star-imports this one (`_inputs` does `from ._enums import *`) took its
        # names when it was created: hand it the new ones too.
        for other in self.index["types"]:
            importer = sys.modules.get(f"{self.name}.{other}")
            if importer is not None and other != mod and mod in self.index["types"][other]["star"]:
                for name in module.__all__:
                    importer.__dict__.setdefault(name, module.__dict__[name])

    def names_in(self, code_text: str) -> set[str]:
        return set(_NAME.findall(code_text)) & self.index["defined"].keys()


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots: tuple[str, ...]):
        self.roots = roots
        self.subpackages: dict[str, _Subpackage] = {}
        self._bases: dict[str, Path] = {}

    # -- finding
    def find_spec(self, fullname: str, path: Any = None, target: Any = None):  # noqa: ANN201
        root, _, rest = fullname.partition(".")
        if root not in self.roots:
            return None
        if root not in self._bases:  # found past this hook, so the hook does not ask itself
            found = importlib.machinery.PathFinder.find_spec(root)
            if found is None or not found.submodule_search_locations:
                return None
            self._bases[root] = Path(found.submodule_search_locations[0])
        where = self._bases[root] / Path(*rest.split(".")) if rest else self._bases[root]
        parent = fullname.rpartition(".")[0]
        if (where / "__init__.py").exists():
            return importlib.util.spec_from_file_location(fullname, where / "__init__.py", loader=self,
                                                          submodule_search_locations=[str(where)])
        if parent in self.subpackages and where.with_suffix(".py").exists():
            return importlib.util.spec_from_file_location(fullname, where.with_suffix(".py"), loader=self)
        return None

    # -- loading
    def create_module(self, spec):  # noqa: ANN001, ANN201
        return None

    def exec_module(self, module: ModuleType) -> None:
        name = module.__name__
        origin = Path(module.__spec__.origin)
        if origin.name == "__init__.py":
            self._exec_package(module, origin.parent)
            return
        parent, _, leaf = name.rpartition(".")
        sub = self.subpackages[parent]
        if leaf in TYPE_MODULES:
            exec(compile(sub.index["types"][leaf]["header"], str(origin), "exec"), module.__dict__)  # noqa: S102
            module.__all__ = []
            return
        loader = importlib.machinery.SourceFileLoader(name, str(origin))
        code = loader.get_code(name)  # the SDK's bytecode cache
        sub.ensure(sub.needs(leaf, origin))
        sub.save_code()
        exec(code, module.__dict__)  # noqa: S102

    def _exec_package(self, module: ModuleType, pkg_dir: Path) -> None:
        sub = self.subpackages.get(module.__name__)
        if sub is None:
            sub = self.subpackages[module.__name__] = _Subpackage(module.__name__, pkg_dir)

        def __getattr__(attr: str) -> Any:  # noqa: N807 - module attribute hook (PEP 562)
            if attr.startswith("__"):
                raise AttributeError(attr)
            if (pkg_dir / attr / "__init__.py").exists():
                return importlib.import_module(f"{module.__name__}.{attr}")
            if attr in TYPE_MODULES and attr in sub.index["types"]:
                return importlib.import_module(f"{module.__name__}.{attr}")
            resource = sub.index["resources"].get(attr)
            if resource is not None:
                value = getattr(importlib.import_module(f"{module.__name__}.{resource}"), attr)
            elif attr in sub.index["defined"]:
                sub.ensure({attr})
                mod, _ = sub.index["defined"][attr]
                value = getattr(importlib.import_module(f"{module.__name__}.{mod}"), attr)
            else:
                raise AttributeError(f"module {module.__name__!r} has no attribute {attr!r}")
            # As the package's `from .x import *` would: the name, not a same-named submodule, wins.
            setattr(module, attr, value)
            return value

        module.__getattr__ = __getattr__  # type: ignore[attr-defined]


_INSTALLED: dict[str, _Finder] = {}


def install(package: str) -> bool:
    """Load `package` sliced from now on in this process. False (nothing changes) when it is
    already imported whole: a process never mixes the two forms. Set SKYC_RENDER_WHOLE_SDK=1 to
    render with whole SDKs."""
    with _LOCK:
        if package in _INSTALLED:
            return True
        if package in sys.modules or os.environ.get("SKYC_RENDER_WHOLE_SDK"):
            return False
        finder = _Finder((package,))
        sys.meta_path.insert(0, finder)
        _INSTALLED[package] = finder
        return True
