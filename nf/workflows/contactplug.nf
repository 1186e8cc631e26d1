/*
 * contactplug: ESM-2 attention contacts (one forward pass per protein) against the Categorical
 * Jacobian (20*L+1 passes), scored against structures, one report. Only wiring lives here:
 * what runs on which protein is decided by CHECK_INPUTS (`contactplug samplesheet`).
 */

include { PREPARE_INPUTS } from '../subworkflows/local/prepare_inputs'
include { ATTENTION } from '../subworkflows/local/attention'
include { JACOBIAN } from '../subworkflows/local/jacobian'
include { EVALUATION } from '../subworkflows/local/evaluation'

workflow CONTACTPLUG {
    main:
    PREPARE_INPUTS()
    ATTENTION(PREPARE_INPUTS.out.proteins, PREPARE_INPUTS.out.model)
    JACOBIAN(PREPARE_INPUTS.out.jacobian, PREPARE_INPUTS.out.model)
    EVALUATION(PREPARE_INPUTS.out.structures, ATTENTION.out.attention, JACOBIAN.out.maps, ATTENTION.out.esm_head)

    // one entry per process, kept with the run's other records
    PREPARE_INPUTS.out.versions
        .mix(ATTENTION.out.versions, JACOBIAN.out.versions, EVALUATION.out.versions)
        .map { yml -> yml.text }
        .unique()
        .collectFile(name: 'software_versions.yml', storeDir: "${params.outdir}/pipeline_info", sort: true, newLine: false)
}
