"""Where code runs and what it runs against: paths, Spark, MLflow, task values."""
