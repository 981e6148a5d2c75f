"""Offline multilingual corpus builder (GNOME help text, espeak-ng speech, gflanguages)."""
