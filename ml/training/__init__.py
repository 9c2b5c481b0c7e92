"""Training: prepared data, the Hyperopt search over SparkXGBClassifier, tracking, registration."""
