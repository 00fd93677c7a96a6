"""For operators: read-only inspection of the job keys in Redis, and ``python -m jobs ops``."""
