"""Turn MVTec AD, VisA and MVTec LOCO AD on disk into verl's parquet prompt files; owns the dataset catalog."""
