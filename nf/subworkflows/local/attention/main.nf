/*
 * The one-pass methods: attention contacts (heads ranked once per run unless --heads gives a
 * ranking) and, with --esm_head, ESM's contact head; --attention_batch proteins per task.
 */

include { HEAD_RANKING } from '../../../modules/local/head_ranking'
include { ATTENTION_CONTACTS } from '../../../modules/local/attention_contacts'
include { ESM_HEAD_CONTACTS } from '../../../modules/local/esm_head_contacts'

workflow ATTENTION {
    take:
    ch_proteins // [meta, fasta], sorted by id
    ch_model // [spec, files]

    main:
    def ch_versions = channel.empty()
    def ch_heads = channel.empty()
    if (params.heads) {
        ch_heads = channel.value(file(params.heads))
    } else {
        HEAD_RANKING(ch_model)
        ch_heads = HEAD_RANKING.out.heads.first()
        ch_versions = ch_versions.mix(HEAD_RANKING.out.versions)
    }

    // In id order, so a rerun makes the same batches and -resume finds them.
    def ch_batches = ch_proteins
        .map { meta, fasta -> [meta.id, fasta] }
        .collate(params.attention_batch)
        .map { batch -> [batch.collect { item -> item[0] }, batch.collect { item -> item[1] }] }

    ATTENTION_CONTACTS(ch_batches, ch_model, ch_heads)
    def ch_attention = ATTENTION_CONTACTS.out.maps.flatten().map { npz -> [npz.baseName, npz] }
    ch_versions = ch_versions.mix(ATTENTION_CONTACTS.out.versions)

    def ch_esm_head = channel.empty()
    if (params.esm_head) {
        ESM_HEAD_CONTACTS(ch_batches, ch_model)
        ch_esm_head = ESM_HEAD_CONTACTS.out.maps.flatten().map { npz -> [npz.baseName, npz] }
        ch_versions = ch_versions.mix(ESM_HEAD_CONTACTS.out.versions)
    }

    emit:
    attention = ch_attention // [id, npz]
    esm_head = ch_esm_head // [id, npz], with --esm_head
    versions = ch_versions
}
