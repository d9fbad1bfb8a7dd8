"""The reviews: the archive read and checked, the splits, text to token ids, length-bucketed batches."""
