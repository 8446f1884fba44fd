"""GenEmail segmentation stage."""
