"""HROB risk model: configuration, data, features, training, registry and inference."""
