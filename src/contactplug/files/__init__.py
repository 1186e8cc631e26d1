"""Files in and out, with numpy and the standard library alone: the npz schema every method
writes, CASP RR, FASTA and sequence rules, top/range specs, residue codes, the method table,
atomic writes and the one error type. Imports inside this package are relative, so the PyMOL
plugin zip can carry a copy of it (plugin/build_zip.py) when torch is not there.
"""
