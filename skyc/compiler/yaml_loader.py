"""YAML documents with their node trees kept, so any error can be traced back to a line and column.

The C parser composes nodes (which carry marks) and a Python constructor builds plain data while
rejecting duplicate keys. Locations are resolved from the nodes only when an error is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from skyc.errors import SpecIssue

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _DuplicateKey(yaml.MarkedYAMLError):
    pass


class _Loader(_Base):  # type: ignore[misc, valid-type]
    def construct_mapping(self, node, deep=False):  # noqa: ANN001 - PyYAML signature
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen: set = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    dup = key in seen
                except TypeError:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark, "found an unhashable key",
                        key_node.start_mark) from None
                if dup:
                    raise _DuplicateKey(None, None, f"duplicate key {key!r}", key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


@dataclass
class Document:
    data: Any
    node: yaml.Node | None


def parse_documents(text: str, filename: str = "<string>") -> list[Document]:
    """Every document of `text` with its node; raises YamlSyntaxError with a located issue."""
    loader = _Loader(text)
    docs: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            docs.append(Document(loader.construct_document(node), node))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        msg = (e.problem or e.context or "invalid YAML").strip()
        if e.context and e.problem and not isinstance(e, _DuplicateKey):
            msg = f"{e.context}: {e.problem}"
        raise YamlSyntaxError(SpecIssue(
            f"YAML syntax error: {msg}", file=filename,
            line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None)) from None
    except yaml.YAMLError as e:
        raise YamlSyntaxError(SpecIssue(f"YAML error: {e}", file=filename)) from None
    except RecursionError:
        raise YamlSyntaxError(SpecIssue("YAML nesting is too deep", file=filename)) from None
    finally:
        loader.dispose()
    return docs


class YamlSyntaxError(Exception):
    def __init__(self, issue: SpecIssue):
        self.issue = issue
        super().__init__(issue.format())


def _key_matches(key_node: yaml.Node, key: Any) -> bool:
    if not isinstance(key_node, yaml.ScalarNode):
        return False
    return key_node.value == str(key) or (isinstance(key, bool) and key_node.value.lower() in (
        ("true", "yes", "on") if key else ("false", "no", "off")))


def locate(node: yaml.Node | None, path: tuple, *, at_key: bool = False) -> tuple[int | None, int | None]:
    """(line, column), 1-based, of the value at `path` (or of its key when `at_key`); the deepest
    existing ancestor when the path does not exist (e.g. a missing field)."""
    if node is None:
        return None, None
    cur = node
    mark = node.start_mark
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(cur, yaml.MappingNode):
            for key_node, val_node in cur.value:
                if _key_matches(key_node, part):
                    mark = key_node.start_mark if (last and at_key) else val_node.start_mark
                    cur = val_node
                    break
            else:
                break
        elif isinstance(cur, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(cur.value):
            cur = cur.value[part]
            mark = cur.start_mark
        else:
            break
    return mark.line + 1, mark.column + 1


def mapping_keys(node: yaml.Node | None, path: tuple) -> list[str]:
    """Key spellings present at `path` (used to find which alias a user wrote)."""
    cur = node
    for part in path:
        if isinstance(cur, yaml.MappingNode):
            cur = next((v for k, v in cur.value if _key_matches(k, part)), None)
        elif isinstance(cur, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(cur.value):
            cur = cur.value[part]
        else:
            return []
    if isinstance(cur, yaml.MappingNode):
        return [k.value for k, _ in cur.value if isinstance(k, yaml.ScalarNode)]
    return []


def dump(data: Any) -> str:
    """Plain block-style YAML, keys in insertion order."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True)
