"""Databricks dynamic value references in task parameters, resolved as Databricks does.

Supported: {{job.parameters.<name>}}, {{tasks.<task>.values.<key>}}, {{job.run_id}},
{{job.start_time.iso_date}}. Anything else is an error naming the reference: a typo
must fail here, not in staging.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from ml.runner.deployed import RunnerError

REFERENCE = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


@dataclass
class RunContext:
    run_id: str
    start_time: datetime
    parameters: dict[str, str]
    task_values: dict[str, dict[str, str]] = field(default_factory=dict)

    def value(self, reference: str, where: str) -> str:
        parts = reference.split(".")
        if reference == "job.run_id":
            return self.run_id
        if reference == "job.start_time.iso_date":
            return self.start_time.date().isoformat()
        if len(parts) == 3 and parts[:2] == ["job", "parameters"]:
            if parts[2] not in self.parameters:
                raise RunnerError(
                    f"{where}: {{{{{reference}}}}} names no job parameter "
                    f"(parameters: {', '.join(sorted(self.parameters)) or 'none'})"
                )
            return self.parameters[parts[2]]
        if len(parts) == 4 and parts[0] == "tasks" and parts[2] == "values":
            task, key = parts[1], parts[3]
            if task not in self.task_values:
                raise RunnerError(f"{where}: {{{{{reference}}}}}: task {task} has not run before this task")
            if key not in self.task_values[task]:
                raise RunnerError(
                    f"{where}: {{{{{reference}}}}}: task {task} set no value '{key}' "
                    f"(values: {', '.join(sorted(self.task_values[task])) or 'none'})"
                )
            return str(self.task_values[task][key])
        raise RunnerError(f"{where}: unsupported reference {{{{{reference}}}}}")

    def resolve(self, text: str, where: str) -> str:
        return REFERENCE.sub(lambda m: self.value(m.group(1), where), text)
