"""Indicator sharing: confirmed clusters' indicators as STIX 2.1 bundles."""
