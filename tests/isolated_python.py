"""An interpreter like a Spark executor's on a job cluster: the project's libraries, but
not the project. Spark's Python workers run it in every test session (HROB_WORKER_PYTHON),
so anything a Spark task needs from `ml` must arrive the way it does on a cluster: shipped
by the driver (ml/runtime/shipping.py), not found on a path.

It is this virtual environment's Python started without `site` (so no .pth file, and
with it the editable install of the project, is processed), with the environment's
site-packages on PYTHONPATH, in an empty working directory, with the script's folder
kept off sys.path (PYTHONSAFEPATH).
"""

from __future__ import annotations

import shlex
import sys
import sysconfig
from pathlib import Path


def isolated_python(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    workdir = folder / "cwd"
    workdir.mkdir(exist_ok=True)
    libraries = ":".join(dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]))
    script = folder / "python"
    script.write_text(
        "#!/bin/sh\n"
        f"cd {shlex.quote(str(workdir))} || exit 1\n"
        f'PYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{libraries}" PYTHONSAFEPATH=1 '
        f'exec {shlex.quote(sys.executable)} -S "$@"\n'
    )
    script.chmod(0o755)
    return script
