"""Judging maps against structures: precision per range, the attention-versus-Jacobian report,
and contact-map pictures.
"""
