"""Field precision: how often analysts confirm what the detector flags."""
