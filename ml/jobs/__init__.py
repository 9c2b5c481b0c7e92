"""Job entry points (what Databricks runs) and the catalogue that names them once."""
