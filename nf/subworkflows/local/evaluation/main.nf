/*
 * Scoring, on the proteins that have a structure: the chain each is scored against, precision
 * per method, and the report (with its MultiQC files). Nothing runs when no protein has a
 * structure.
 */

include { PREPARE_STRUCTURE } from '../../../modules/local/prepare_structure'
include { EVALUATE } from '../../../modules/local/evaluate'
include { COMPARE } from '../../../modules/local/compare'
include { scoredMaps } from '../utils_contactplug_pipeline'

workflow EVALUATION {
    take:
    ch_structures // [meta, fasta, structure]
    ch_attention // [id, npz], or with --store pairs [id, the part that holds it]
    ch_jacobian // [id, npz]
    ch_esm_head // [id, npz]

    main:
    PREPARE_STRUCTURE(ch_structures)
    def ch_cifs = PREPARE_STRUCTURE.out.structure
        .map { _meta, cif -> cif }
        .toSortedList { a, b -> a.name <=> b.name }
    def ch_scored = ch_structures.map { meta, _fasta, _structure -> [meta.id, true] }

    def ch_attention_scored = scoredMaps(ch_attention, ch_scored)
    def ch_jacobian_scored = scoredMaps(ch_jacobian, ch_scored)
    def ch_evaluate_in = ch_attention_scored
        .map { maps -> ['attention', maps] }
        .mix(ch_jacobian_scored.map { maps -> ['jacobian', maps] })
    def ch_esm_head_scored = channel.value([]) // COMPARE's empty esm_head input
    if (params.esm_head) {
        ch_esm_head_scored = scoredMaps(ch_esm_head, ch_scored)
        ch_evaluate_in = ch_evaluate_in.mix(ch_esm_head_scored.map { maps -> ['esm_head', maps] })
    }
    EVALUATE(ch_evaluate_in, ch_cifs)
    COMPARE(ch_attention_scored, ch_jacobian_scored, ch_esm_head_scored, ch_cifs)

    emit:
    multiqc = COMPARE.out.multiqc // the report's MultiQC custom-content files
    versions = PREPARE_STRUCTURE.out.versions.mix(EVALUATE.out.versions, COMPARE.out.versions)
}
