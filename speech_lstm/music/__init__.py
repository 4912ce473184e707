"""Symbolic music data: the Bach chorales, piano rolls, token streams and splits (see ``corpus``)."""
