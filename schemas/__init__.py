"""The ticket and alert contracts (v1): JSON Schema files and the Python models that validate them."""
