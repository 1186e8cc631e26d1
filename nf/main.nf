#!/usr/bin/env nextflow
/*
 * contactplug pipeline: protein contacts from protein language model attention (one forward
 * pass per protein) against the Categorical Jacobian (20*L+1 passes), scored against
 * structures, one report.
 *
 *   nextflow run nf/main.nf -profile test
 *   nextflow run nf/main.nf --input tests/data/nf/samplesheet.csv --outdir results -profile gpu,slurm
 *
 * Every task runs `contactplug` (the checkout's bin/, reached through the nf/bin symlink, or
 * an installed one). See nf/README.md for inputs, profiles and what lands in --outdir.
 */

include { validateParameters } from 'plugin/nf-schema'
include { CONTACTPLUG } from './workflows/contactplug'

workflow {
    main:
    // Parameters against nextflow_schema.json, and the samplesheet's columns against
    // assets/schema_input.json; CHECK_INPUTS then checks every row and file.
    validateParameters()
    CONTACTPLUG()

    workflow.onComplete = {
        if (workflow.success) {
            log.info("contactplug: done; results in ${params.outdir} (report: ${params.outdir}/report/summary.html)")
        } else {
            log.error("contactplug: failed; the failing task's .command.err (in its work folder) says why; fix and rerun with -resume")
        }
    }
}
