#!/usr/bin/env python3
"""Validate a manifest: python manifests/validate_manifest.py KIND FILE [--skip-invalid]."""
from mslam_plugin.data.tools import main_validate

if __name__ == "__main__":
    main_validate()
