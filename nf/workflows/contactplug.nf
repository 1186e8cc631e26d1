/*
 * contactplug: ESM-2 attention contacts (one forward pass per protein) against the Categorical
 * Jacobian (20*L+1 passes), scored against structures, one report and a MultiQC page. Only
 * wiring lives here: what runs on which protein is decided by CHECK_INPUTS
 * (`contactplug samplesheet`).
 */

include { PREPARE_INPUTS } from '../subworkflows/local/prepare_inputs'
include { ATTENTION } from '../subworkflows/local/attention'
include { JACOBIAN } from '../subworkflows/local/jacobian'
include { EVALUATION } from '../subworkflows/local/evaluation'
include { MULTIQC } from '../modules/local/multiqc'

workflow CONTACTPLUG {
    take:
    input // --input: a samplesheet, or null
    fasta // --fasta: a FASTA of proteins, or null
    structures // --structures: a folder of structures named by id, or null
    model // --model: a name, a .pt file or an HF folder

    main:
    PREPARE_INPUTS(input, fasta, structures, model)
    ATTENTION(PREPARE_INPUTS.out.proteins, PREPARE_INPUTS.out.model)
    JACOBIAN(PREPARE_INPUTS.out.jacobian, PREPARE_INPUTS.out.model)
    EVALUATION(PREPARE_INPUTS.out.structures, ATTENTION.out.attention, JACOBIAN.out.maps, ATTENTION.out.esm_head)

    // one entry per process, kept with the run's other records
    def ch_versions = PREPARE_INPUTS.out.versions
        .mix(ATTENTION.out.versions, JACOBIAN.out.versions, EVALUATION.out.versions)
        .map { yml -> yml.text }
        .unique()
        .collectFile(name: 'software_versions.yml', storeDir: "${params.outdir}/pipeline_info", sort: true, newLine: false)

    // MultiQC over COMPARE's custom-content files (precision, attention vs Jacobian, cost,
    // inter-chain) and the software versions; with no structure, the versions alone
    MULTIQC(EVALUATION.out.multiqc.ifEmpty([]), ch_versions, channel.value(file("${projectDir}/assets/multiqc_config.yml")))

    emit:
    multiqc_report = MULTIQC.out.report // multiqc/multiqc_report.html
    versions = ch_versions // pipeline_info/software_versions.yml
}
