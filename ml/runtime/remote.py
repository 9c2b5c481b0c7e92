"""How long a call to a remote service (a Databricks workspace, its registry, an MLflow
server) may wait before it is called unreachable, and how to tell "unreachable" from an
answer.

MLflow retries a failing request seven times with growing pauses (about two minutes) and
the Databricks SDK retries for five minutes, so a registry that cannot be reached used to
look like a hang, and then like an empty registry. Commands that reach one bound both by
`HROB_REMOTE_TIMEOUT` seconds (default 20): each request waits at most that long and is
tried twice, the SDK retries for no longer than that.
"""

from __future__ import annotations

import os
import re
import socket
from urllib.parse import urlsplit

from ml.errors import ConfigError, HrobError

TIMEOUT_VARIABLE = "HROB_REMOTE_TIMEOUT"
DEFAULT_TIMEOUT = 20.0
# Words of the errors urllib3, requests and the SDK raise when nothing answered in time.
_UNREACHABLE = re.compile(
    r"Max retries exceeded|NewConnectionError|ConnectTimeout|ReadTimeout|timed out|Name or service not known|"
    r"Temporary failure in name resolution|nodename nor servname|Connection refused|Connection reset|"
    r"RemoteDisconnected|ConnectionError|Failed to resolve|Failed to fetch host metadata",
    re.IGNORECASE,
)
# The reason given, most telling first.
_REASONS = (
    "Name or service not known",
    "Temporary failure in name resolution",
    "Connection refused",
    "Read timed out",
    "timed out",
    "Connection reset",
    "RemoteDisconnected",
    "Failed to resolve",
    "Failed to fetch host metadata",
)
# socket's own errors, by errno name
_SOCKET_REASONS = {"ECONNREFUSED": "connection refused", "ETIMEDOUT": "timed out", "EHOSTUNREACH": "no route to host"}


def timeout(environ: dict[str, str] | None = None) -> float:
    """`HROB_REMOTE_TIMEOUT` in seconds (default 20)."""
    raw = (environ if environ is not None else os.environ).get(TIMEOUT_VARIABLE, "")
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigError(f"{TIMEOUT_VARIABLE}: '{raw}' is not a number of seconds") from None
    if not 1 <= seconds <= 600:
        raise ConfigError(f"{TIMEOUT_VARIABLE}: {raw} is outside 1-600 seconds")
    return seconds


def bound_remote_calls(environ: dict[str, str] | None = None) -> float:
    """Bound MLflow's and the Databricks SDK's requests in this process; the seconds."""
    environ = os.environ if environ is None else environ
    seconds = timeout(environ)
    environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(seconds))
    environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "1"
    environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "1"
    environ["DATABRICKS_HTTP_TIMEOUT_SECONDS"] = str(int(seconds))
    environ["DATABRICKS_RETRY_TIMEOUT_SECONDS"] = str(int(seconds))
    return seconds


class Unreachable(HrobError):
    """Nothing answered at a remote service's address."""


def probe(url: str, what: str, seconds: float | None = None, environ: dict[str, str] | None = None) -> None:
    """Open (and close) a TCP connection to `url`'s host within `seconds`, so that an
    unreachable service is named before any client starts retrying against it. Behind a
    proxy the clients connect through it, so nothing is probed."""
    environ = os.environ if environ is None else environ
    if any(environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")):
        return
    parts = urlsplit(url if "://" in url else f"https://{url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    seconds = timeout(environ) if seconds is None else seconds
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=seconds):
            return
    except OSError as error:
        reason = unreachable(error) or str(error)
        raise Unreachable(
            f"{what} {url} is unreachable ({reason}, {seconds:.0f}s per request): check the network and the Azure "
            f"CLI session (az login); {TIMEOUT_VARIABLE} sets the wait"
        ) from None


def unreachable(error: BaseException) -> str | None:
    """Why `error` means nothing answered (a short reason), or None when something did."""
    chain, seen = [], error
    while seen is not None and len(chain) < 10:  # the SDK wraps the cause two or three times
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    if isinstance(error, socket.gaierror):
        return "name or service not known"
    if isinstance(error, socket.timeout):
        return "timed out"
    if isinstance(error, OSError) and error.errno is not None:
        import errno

        named = _SOCKET_REASONS.get(errno.errorcode.get(error.errno, ""))
        if named:
            return named
    text = " ".join(str(part) for part in chain).lower()
    if any(isinstance(part, (ConnectionError, TimeoutError)) for part in chain) or _UNREACHABLE.search(text):
        return next((reason.lower() for reason in _REASONS if reason.lower() in text), "no answer")
    return None
