"""Corpus preparation. Real corpora from a user's local copy (nothing is downloaded):
CoVoST 2 (:mod:`.covost2`), MLS and VoxPopuli for ASR (:mod:`.mls_voxpopuli`), Common
Voice / MLS / VoxPopuli speech for pre-training (:mod:`.unlabeled_speech`), mC4 text
(:mod:`.mc4`); fairseq speech_to_text conventions they share (:mod:`.speech_to_text`).
The offline tiny corpus (GNOME help text, espeak-ng speech, gflanguages) is built by
:mod:`.tiny`. The commands are in :mod:`mslam_plugin.cli.prepare`."""
