/*
 * The Categorical Jacobian: one task per protein, or per --cj_chunk positions (the rows of
 * CHECK_INPUTS' jacobian.csv) whose parts are gathered into the protein's map.
 */

include { JACOBIAN_CONTACTS } from '../../../modules/local/jacobian_contacts'
include { JACOBIAN_GATHER } from '../../../modules/local/jacobian_gather'

workflow JACOBIAN {
    take:
    ch_tasks // [meta, fasta, first, last]
    ch_model // [spec, files]

    main:
    JACOBIAN_CONTACTS(ch_tasks, ch_model)
    def ch_out = JACOBIAN_CONTACTS.out.maps.branch { meta, _npz ->
        whole: meta.chunks == 1
        parts: true
    }
    // groupKey knows how many parts a protein has, so each group goes on once it is complete
    def ch_parts = ch_out.parts
        .map { meta, part -> [groupKey(meta.id, meta.chunks), meta, part] }
        .groupTuple()
        .map { _id, metas, parts -> [metas[0], parts.sort { f -> f.name }] }
    JACOBIAN_GATHER(ch_parts)
    def ch_maps = ch_out.whole.mix(JACOBIAN_GATHER.out.map).map { meta, npz -> [meta.id, npz] }

    emit:
    maps = ch_maps // [id, npz]
    versions = JACOBIAN_CONTACTS.out.versions.mix(JACOBIAN_GATHER.out.versions)
}
