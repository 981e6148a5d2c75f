"""Manifests, character vocabulary and datasets."""
