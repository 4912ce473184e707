"""Symbolic music: Bach chorale and JSB data, piano rolls, token streams, splits (``corpus``),
piano-roll metrics and baselines (``metrics``) and a piano-roll LSTM (``model``)."""
