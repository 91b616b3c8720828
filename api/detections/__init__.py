"""Detections: the verdicts and clusters the detector writes, and the queue analysts work from."""
