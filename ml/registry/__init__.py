"""The model registry: registration, champion/challenger validation and promotion."""
