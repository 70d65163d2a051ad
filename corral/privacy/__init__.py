"""Personal-data protection: detection, reversible redaction, stream-safe restoration."""
