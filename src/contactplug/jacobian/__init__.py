"""The Categorical Jacobian: 20L+1 forwards, the compact symmetric store of its blocks, and its
scatter/gather by chunks of positions.
"""
