/*
 * The one-pass methods: attention contacts (heads ranked once per run unless --heads gives a
 * ranking) and, with --esm_head, ESM's contact head; --attention_batch proteins per task.
 * --store pairs: attention writes one Parquet part per batch, and a rerun skips the batches
 * whose part is published in --outdir.
 */

include { HEAD_RANKING } from '../../../modules/local/head_ranking'
include { ATTENTION_CONTACTS } from '../../../modules/local/attention_contacts'
include { ESM_HEAD_CONTACTS } from '../../../modules/local/esm_head_contacts'
include { partName ; publishedPart ; staleParts } from '../utils_contactplug_pipeline'

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

    // In id order, so a rerun makes the same batches and -resume finds them. Each batch has
    // a name: with --store pairs, its part is attention/<part>.parquet
    def settings = "model=${params.model} heads=${params.heads ?: 'ranked'} top_k=${params.top_k ?: ''} keep=${params.keep}"
    def ch_batches = ch_proteins
        .map { meta, fasta -> [meta.id, fasta] }
        .collate(params.attention_batch)
        .map { batch ->
            def ids = batch.collect { item -> item[0] }
            def fastas = batch.collect { item -> item[1] }
            [ids, partName(ids, fastas, settings), fastas]
        }

    // --store pairs: a batch whose part an earlier run published whole into --outdir is not
    // run again (its name is its content: proteins, sequences, settings); its part is read
    // from there, as a -resume would read it from work/
    def ch_todo = ch_batches
    def ch_published = channel.empty()
    if (params.store == 'pairs') {
        def folder = "${params.outdir}/attention"
        def ch_split = ch_batches.branch { _ids, part, _fastas ->
            published: publishedPart(folder, part) != null
            todo: true
        }
        ch_todo = ch_split.todo
        ch_published = ch_split.published.map { ids, part, _fastas -> [ids, publishedPart(folder, part)] }
        ch_batches
            .map { _ids, part, _fastas -> "${part}.parquet".toString() }
            .collect()
            .subscribe { names ->
                def stale = staleParts(folder, names)
                if (stale) {
                    log.warn("contactplug: ${folder} holds ${stale.size()} part(s) of an earlier run whose batches differ from this run's (${stale.join(', ')}); a reader of that folder refuses a protein stored twice: remove them")
                }
            }
    }

    ATTENTION_CONTACTS(ch_todo, ch_model, ch_heads)
    def ch_attention = ATTENTION_CONTACTS.out.maps.flatten().map { npz -> [npz.baseName, npz] }
    if (params.store == 'pairs') {
        // one [id, part] per protein, as the npz maps are [id, npz]
        ch_attention = ATTENTION_CONTACTS.out.pairs
            .mix(ch_published)
            .flatMap { ids, part -> ids.collect { id -> [id, part] } }
    }
    ch_versions = ch_versions.mix(ATTENTION_CONTACTS.out.versions)

    def ch_esm_head = channel.empty()
    if (params.esm_head) {
        ESM_HEAD_CONTACTS(ch_batches.map { ids, _part, fastas -> [ids, fastas] }, ch_model)
        ch_esm_head = ESM_HEAD_CONTACTS.out.maps.flatten().map { npz -> [npz.baseName, npz] }
        ch_versions = ch_versions.mix(ESM_HEAD_CONTACTS.out.versions)
    }

    emit:
    attention = ch_attention // [id, npz], or with --store pairs [id, the part that holds it]
    esm_head = ch_esm_head // [id, npz], with --esm_head
    versions = ch_versions
}
