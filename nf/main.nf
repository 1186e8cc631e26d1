#!/usr/bin/env nextflow
/*
 * contactplug pipeline: protein contacts from protein language model attention (one forward
 * pass per protein) against the Categorical Jacobian (20*L+1 passes), scored against
 * structures, one report and a MultiQC page.
 *
 *   nextflow run nf/main.nf -profile test
 *   nextflow run nf/main.nf --input tests/data/nf/samplesheet.csv --outdir results -profile gpu,slurm
 *
 * Every task runs `contactplug` (the checkout's bin/, reached through the nf/bin symlink, or
 * an installed one). See nf/README.md for inputs, profiles and what lands in --outdir.
 * The entry is the only place that reads the run's inputs from params: the workflow takes them.
 */

include { PIPELINE_INITIALISATION ; PIPELINE_COMPLETION } from './subworkflows/local/utils_contactplug_pipeline'
include { CONTACTPLUG } from './workflows/contactplug'

workflow {
    main:
    PIPELINE_INITIALISATION()
    CONTACTPLUG(params.input, params.fasta, params.structures, params.model)
    PIPELINE_COMPLETION(params.outdir)
}
