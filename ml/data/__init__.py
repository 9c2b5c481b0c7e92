"""Source and derived tables: their schema, the storage adapter and input checks."""
