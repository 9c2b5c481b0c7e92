"""Training: prepared data, the Hyperopt search over xgboost on Spark tasks, tracking, registration."""
