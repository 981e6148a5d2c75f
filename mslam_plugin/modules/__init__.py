"""Plain nn.Modules of mSLAM: no fairseq registry in here."""
