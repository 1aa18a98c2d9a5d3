"""Runs a composite GitHub Action's steps here, the way the Actions runner runs them.

Deliberately small: it knows exactly what trustbuild's ``action.yml`` uses and refuses the
rest, so a new construct in the action fails the tests until this runner learns it.

* steps: ``run`` with ``shell: bash`` (run as the runner does, ``bash --noprofile --norc -eo
  pipefail SCRIPT``), ``name``, ``id``, ``env``; anything else (``uses``, ``if``,
  ``working-directory``, another shell) is refused;
* expressions ``${{ inputs.NAME }}`` (declared inputs only; the default when not given),
  ``${{ github.action_path }}`` and ``${{ steps.ID.outputs.NAME }}``; any other expression is
  refused;
* the environment the runner gives a composite step: ``GITHUB_ACTION_PATH``,
  ``GITHUB_WORKSPACE`` (also the working directory), ``RUNNER_TEMP`` and a fresh
  ``GITHUB_OUTPUT`` file per step (``name=value`` and ``name<<DELIMITER`` forms);
* a failing step stops the action (``if: success()``, the default) with its exit status.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
INPUT = re.compile(rf"inputs\.({NAME})")
STEP_OUTPUT = re.compile(rf"steps\.({NAME})\.outputs\.({NAME})")
STEP_KEYS = frozenset({"name", "id", "shell", "env", "run"})
BASH = ("bash", "--noprofile", "--norc", "-eo", "pipefail")


class UnsupportedAction(AssertionError):
    """The action uses something this runner does not interpret."""


@dataclass(frozen=True)
class StepRun:
    name: str
    code: int
    stdout: str
    stderr: str


@dataclass
class ActionRun:
    """What a run of the action left: its exit status, outputs and each step's output."""

    code: int = 0
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepRun] = field(default_factory=list)

    @property
    def log(self) -> str:
        return "".join(f"--- {s.name} (exit {s.code})\n{s.stdout}{s.stderr}" for s in self.steps)


def load(action_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((action_dir / "action.yml").read_text())
    if data.get("runs", {}).get("using") != "composite":
        raise UnsupportedAction("only composite actions are interpreted")
    for step in data["runs"]["steps"]:
        unknown = set(step) - STEP_KEYS
        if unknown or "run" not in step or step.get("shell") != "bash":
            raise UnsupportedAction(f"step {step.get('name')!r}: only `run` steps with "
                                    f"`shell: bash` are interpreted (found {sorted(step)})")
    return data


def expressions(value: Any) -> list[str]:
    """Every ``${{ }}`` expression in *value* (strings inside lists and mappings too)."""
    if isinstance(value, str):
        return EXPRESSION.findall(value)
    if isinstance(value, Mapping):
        return [e for v in value.values() for e in expressions(v)]
    if isinstance(value, list):
        return [e for v in value for e in expressions(v)]
    return []


class _Context:
    def __init__(self, action: Mapping[str, Any], action_dir: Path,
                 inputs: Mapping[str, str]) -> None:
        declared: Mapping[str, Mapping[str, Any]] = action.get("inputs", {})
        unknown = set(inputs) - set(declared)
        if unknown:
            raise UnsupportedAction(f"inputs the action does not declare: {sorted(unknown)}")
        self.inputs = {name: str(inputs.get(name, spec.get("default", "")))
                       for name, spec in declared.items()}
        self.action_path = str(action_dir)
        self.step_outputs: dict[str, dict[str, str]] = {}

    def evaluate(self, text: str) -> str:
        return EXPRESSION.sub(lambda m: self._value(m.group(1)), text)

    def _value(self, expression: str) -> str:
        if expression == "github.action_path":
            return self.action_path
        if match := INPUT.fullmatch(expression):
            if match.group(1) not in self.inputs:
                raise UnsupportedAction(f"undeclared input in ${{{{ {expression} }}}}")
            return self.inputs[match.group(1)]
        if match := STEP_OUTPUT.fullmatch(expression):
            return self.step_outputs.get(match.group(1), {}).get(match.group(2), "")
        raise UnsupportedAction(f"expression not interpreted: ${{{{ {expression} }}}}")


def run_action(action_dir: Path, inputs: Mapping[str, str], *, env: Mapping[str, str],
               workspace: Path, runner_temp: Path, only: Collection[str] | None = None,
               timeout: float = 600) -> ActionRun:
    """Run the composite action in *action_dir* with *inputs*, in *workspace*, with the job's
    environment *env*; *only*: just the steps of these names."""
    action = load(action_dir)
    context = _Context(action, action_dir, inputs)
    result = ActionRun()
    for step in action["runs"]["steps"]:
        if only is not None and step.get("name") not in only:
            continue
        step_env = {**env, "GITHUB_ACTION_PATH": str(action_dir),
                    "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(runner_temp)}
        step_env.update({k: context.evaluate(str(v)) for k, v in step.get("env", {}).items()})
        with tempfile.TemporaryDirectory(dir=runner_temp) as scratch:
            script = Path(scratch) / "step.sh"
            script.write_text(context.evaluate(step["run"]))
            output_file = Path(scratch) / "github_output"
            output_file.touch()
            step_env["GITHUB_OUTPUT"] = str(output_file)
            done = subprocess.run([*BASH, str(script)], env=step_env, cwd=workspace,
                                  capture_output=True, text=True, timeout=timeout,
                                  check=False)
            outputs = parse_outputs(output_file.read_text())
        result.steps.append(StepRun(step.get("name", ""), done.returncode, done.stdout,
                                    done.stderr))
        if "id" in step:
            context.step_outputs[step["id"]] = outputs
        if done.returncode != 0:
            result.code = done.returncode
            break
    result.outputs = {name: context.evaluate(str(spec.get("value", "")))
                      for name, spec in action.get("outputs", {}).items()}
    return result


def parse_outputs(text: str) -> dict[str, str]:
    """A ``GITHUB_OUTPUT`` file: ``name=value`` lines and ``name<<DELIMITER`` blocks."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block: list[str] = []
            for body in lines:
                if body == delimiter:
                    break
                block.append(body)
            outputs[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs

