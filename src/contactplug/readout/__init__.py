"""Contacts read from attention: per-head maps, the head ranking made once per model, windows
for long proteins, and the labelled selection set the ranking is made from.
"""
