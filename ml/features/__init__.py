"""Feature engineering into feature tables, and point-in-time training sets."""
