"""Registered fairseq criterions of mslam-plugin (imported for registration)."""
