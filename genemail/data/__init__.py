"""Customer data: load (CSV/Parquet, PRD or Kaggle schema), clean visibly, synthesize."""
