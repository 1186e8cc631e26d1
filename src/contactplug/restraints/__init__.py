"""From maps to modelling: calibrated probabilities and restraint files (CASP RR, Rosetta, CNS,
Boltz-2, Chai-1, CSV).
"""
