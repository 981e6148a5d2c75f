#!/usr/bin/env python3
"""Validate a manifest (the mslam-validate-manifest command):
python manifests/validate_manifest.py KIND FILE [--skip-invalid]."""
import sys

from mslam_plugin.cli.manifests import main_validate

if __name__ == "__main__":
    sys.exit(main_validate())
