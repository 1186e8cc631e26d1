"""What the user hands in: structures (gemmi chains, virtual C-beta, alignment), command-line
queries from FASTA or structure files, chain picking, and the pipeline's samplesheet.
"""
