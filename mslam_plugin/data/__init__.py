"""The data side: manifests, audio and speech features (filterbanks, w2v-BERT 2.0's),
text normalisation, vocabularies, temperature sampling and the datasets of each task."""
