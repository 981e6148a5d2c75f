"""The offline multilingual tiny corpus behind ``make demo``: multi-way (X, English)
units from GNOME help (:mod:`.gnome_help`, :mod:`.units`), espeak-ng speech
(:mod:`.synthesis`), unlabeled text from GNOME help and gflanguages (:mod:`.text_corpus`),
its task manifests (:mod:`.manifests`), built stage by stage by :mod:`.prepare`."""
