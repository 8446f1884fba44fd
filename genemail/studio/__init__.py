"""The strategy studio's back end: edits, threshold changes, saving as a release, retraining jobs."""
