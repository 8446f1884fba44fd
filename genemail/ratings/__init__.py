"""GenEmail ratings stage."""
