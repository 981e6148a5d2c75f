"""Registered fairseq models of mslam-plugin (imported for registration)."""
