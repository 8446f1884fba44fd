"""Hand labels for KR1: marketers label customers' segments blind, in the app's Label tab.

``store`` keeps the labels (SQLite, WAL, idempotent submissions); ``queue`` picks the next customer to
label (segment coverage first, then borderline customers, and some overlap for agreement);
``evaluate`` measures the segmenter and the plain rules against the labels and the labelers against
each other; ``export`` copies new labels to a Hub dataset repo.
"""
