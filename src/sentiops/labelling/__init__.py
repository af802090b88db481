"""Labelling: the queue of tweets people should label (picking.py) and who labels what (queue.py)."""
