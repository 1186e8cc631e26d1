"""Protein language models: loading every supported checkpoint layout into a `Model`, the fused
forward passes, and memory-sized batches of them.
"""
