"""Registered fairseq tasks of mslam-plugin (imported for registration)."""
