"""GenEmail evaluation stage."""
