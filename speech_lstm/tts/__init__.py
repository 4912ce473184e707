"""Text to speech: phoneme text, acoustic model, vocoder, corpus and evaluation (``metrics``)."""
