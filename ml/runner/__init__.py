"""The local runner: Databricks jobs exactly as synthesized, run against the local runtime."""
