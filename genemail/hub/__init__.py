"""GenEmail hub stage."""
