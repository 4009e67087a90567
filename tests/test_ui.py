"""Terminal feedback: per-resource lines from engine events, silence when piped or under JSON."""

from __future__ import annotations

import io

from rich.console import Console

from skyc.ui import UI


def _ui(**kw) -> tuple[UI, io.StringIO]:
    ui = UI(**kw)
    out = io.StringIO()
    ui._console = Console(file=out, force_terminal=False, width=120)
    return ui, out


EVENTS = [
    {"kind": "resource_done", "op": "create", "type": "pulumi:pulumi:Stack", "name": "skyc-c1"},
    {"kind": "resource_done", "op": "create", "type": "pulumi:providers:aws", "name": "aws-us-east-1"},
    {"kind": "resource_done", "op": "create", "type": "aws:ec2/instance:Instance", "name": "head"},
    {"kind": "resource_done", "op": "same", "type": "aws:ec2/keyPair:KeyPair", "name": "key"},
    {"kind": "resource_failed", "op": "create", "type": "aws:ec2/instance:Instance", "name": "worker1"},
    {"kind": "diagnostic", "severity": "error", "message": "Traceback ...\nInsufficientInstanceCapacity"},
]


def test_resource_lines_leave_out_the_stack_providers_and_unchanged():
    ui, out = _ui(interactive=True)
    for e in EVENTS:
        ui.engine_event(e)
    assert out.getvalue().splitlines() == [
        "  create Instance head", "  failed create Instance worker1", "  InsufficientInstanceCapacity"]


def test_nothing_when_piped_or_json():
    for kw in ({"interactive": False}, {"interactive": True, "json_output": True}):
        ui, out = _ui(**kw)
        for e in EVENTS:
            ui.engine_event(e)
        assert out.getvalue() == ""
