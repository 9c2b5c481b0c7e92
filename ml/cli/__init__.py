"""The `hrob` command line."""
