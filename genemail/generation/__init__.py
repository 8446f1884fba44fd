"""GenEmail generation stage."""
