/*
 * What every task reads: CHECK_INPUTS' tables as channels, and the model (built on the fly for
 * the test profile, staged when it is a local file or folder, passed by name otherwise).
 */

include { CHECK_INPUTS } from '../../../modules/local/check_inputs'
include { TINY_MODEL } from '../../../modules/local/tiny_model'
include { modelInput ; proteinMeta } from '../utils_contactplug_pipeline'

workflow PREPARE_INPUTS {
    take:
    input // --input, or null
    fasta // --fasta, or null
    structures // --structures, or null
    model // --model

    main:
    // absolute paths for the task, which runs in its own folder; '' for what is not given
    def sheet = input ? file(input) : ''
    def records = fasta ? file(fasta) : ''
    def folder = structures ? file(structures) : ''
    CHECK_INPUTS(sheet, records, folder, "${workflow.workDir}/contactplug-fasta")

    def ch_rows = CHECK_INPUTS.out.proteins.splitCsv(header: true, quote: '"')
    def ch_proteins = ch_rows.map { row -> [proteinMeta(row), file(row.fasta)] }
    // A complex is scored against its chains of the structure: PREPARE_STRUCTURE gets them as
    // --chains and writes them lettered as its map is (A, B, ...)
    def ch_structures = ch_rows
        .filter { row -> row.structure != '' }
        .map { row -> [proteinMeta(row), file(row.fasta), file(row.structure)] }
    def ch_jacobian = CHECK_INPUTS.out.jacobian
        .splitCsv(header: true, quote: '"')
        .map { row -> [proteinMeta(row), file(row.fasta), row.first.toInteger(), row.last.toInteger()] }

    ch_proteins.count()
        .combine(ch_structures.count())
        .subscribe { n, scored ->
            log.info("contactplug: ${n} proteins (${scored} with a structure), model ${model}, results in ${params.outdir}")
            if (scored == 0) {
                log.warn('contactplug: no protein has a structure, so there is no evaluation and no report; give structures in the samplesheet or with --structures')
            }
        }

    def ch_versions = CHECK_INPUTS.out.versions
    def ch_model = channel.empty()
    if (model == 'tiny-random') {
        TINY_MODEL()
        ch_model = TINY_MODEL.out.model.first()
        ch_versions = ch_versions.mix(TINY_MODEL.out.versions)
    } else {
        ch_model = channel.value(modelInput(model))
    }

    emit:
    proteins = ch_proteins // [meta, fasta], sorted by id
    structures = ch_structures // [meta, fasta, structure], the proteins that have one
    jacobian = ch_jacobian // [meta, fasta, first, last], one per Jacobian task
    model = ch_model // [spec, files to stage]
    versions = ch_versions
}
