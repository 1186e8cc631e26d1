#!/usr/bin/env nextflow
/*
 * contactplug pipeline: protein contacts from ESM-2 attention (one forward pass per protein)
 * against the Categorical Jacobian (20*L+1 passes), scored against structures, one report.
 *
 *   nextflow run nf/main.nf -profile test
 *   nextflow run nf/main.nf --input samplesheet.csv --outdir results -profile gpu,slurm
 *
 * See nf/README.md for inputs, profiles and what lands in --outdir. Every task runs one
 * command from bin/ (reached through the nf/bin symlink) or an installed contactplug.
 */

include { checkParams ; readProteins ; modelInput ; jacobianChunks ; proteinMetas ; fastaBatches ; fastaText ; storeFasta ; samplesheetText } from './functions/input'
include { TINY_MODEL } from './modules/tiny_model'
include { HEAD_RANKING } from './modules/head_ranking'
include { ATTENTION_CONTACTS } from './modules/attention_contacts'
include { ESM_HEAD_CONTACTS } from './modules/esm_head_contacts'
include { JACOBIAN_CONTACTS } from './modules/jacobian_contacts'
include { JACOBIAN_GATHER } from './modules/jacobian_gather'
include { PREPARE_STRUCTURE } from './modules/prepare_structure'
include { EVALUATE } from './modules/evaluate'
include { COMPARE } from './modules/compare'

workflow {
    main:
    // Every input problem stops the run here, before any task, naming the row at fault.
    checkParams(params)
    def proteins = readProteins(params)
    def scored = proteins.findAll { p -> p.structure }.collect { p -> p.id }
    log.info("contactplug: ${proteins.size()} proteins (${scored.size()} with a structure), model ${params.model}, results in ${params.outdir}")

    def metaById = proteinMetas(proteins, params.cj_chunk).collectEntries { m -> [m.id, m] }
    def structureById = proteins.findAll { p -> p.structure }.collectEntries { p -> [p.id, p.structure] }

    channel.of(samplesheetText(proteins))
        .collectFile(name: 'samplesheet.valid.csv', storeDir: "${params.outdir}/pipeline_info")

    // The model, as [spec, files to stage]: built on the fly for the test profile, staged when
    // it is a local file or folder, passed by name otherwise.
    def ch_model = channel.empty()
    if (params.model == 'tiny-random') {
        ch_model = TINY_MODEL().model.first()
    } else {
        ch_model = channel.value(modelInput(params.model))
    }

    // FASTA files: batches of --attention_batch proteins for the one-pass methods, one protein
    // per file for the Jacobian, content-addressed in the work folder (see storeFasta). The
    // proteins are sorted by id, so a rerun builds the same batches.
    def fastaDir = file("${workflow.workDir}/contactplug-fasta")
    def ch_batches = channel.fromList(
        fastaBatches(proteins, params.attention_batch).collect { b -> [b[0], b[1], storeFasta(fastaDir, b[0], b[2])] }
    )
    def ch_fasta = channel.fromList(
        proteins.collect { p -> [metaById[p.id], storeFasta(fastaDir, p.id, fastaText([p]))] }
    )

    // Attention contacts (and the optional ESM contact-head baseline), batched; the heads are
    // ranked once per run unless --heads gives a ranking.
    def ch_heads = channel.empty()
    if (params.heads) {
        ch_heads = channel.value(file(params.heads, checkIfExists: true))
    } else {
        ch_heads = HEAD_RANKING(ch_model).heads.first()
    }
    ATTENTION_CONTACTS(ch_batches, ch_model, ch_heads)
    def ch_attention = ATTENTION_CONTACTS.out.maps.flatten()
    def ch_esm_head = channel.empty()
    if (params.esm_head) {
        ESM_HEAD_CONTACTS(ch_batches, ch_model)
        ch_esm_head = ESM_HEAD_CONTACTS.out.maps.flatten()
    }

    // Categorical Jacobian: one task per protein, or per --cj_chunk positions then gathered.
    def ch_cj_tasks = ch_fasta.flatMap { meta, fasta ->
        jacobianChunks(meta.length, params.cj_chunk).collect { range -> [meta, fasta, range[0], range[1]] }
    }
    JACOBIAN_CONTACTS(ch_cj_tasks, ch_model)
    def ch_cj_out = JACOBIAN_CONTACTS.out.maps.branch { meta, _npz ->
        whole: meta.chunks == 1
        parts: true
    }
    def ch_parts = ch_cj_out.parts
        .map { meta, part -> [groupKey(meta.id, meta.chunks), meta.id, part] }
        .groupTuple()
        .map { _key, ids, parts -> [metaById[ids[0]], parts.sort { f -> f.name }] }
    JACOBIAN_GATHER(ch_parts)
    def ch_jacobian = ch_cj_out.whole.mix(JACOBIAN_GATHER.out.map).map { _meta, npz -> npz }

    // Evaluation and the report, on the proteins that have a structure.
    if (scored) {
        def ch_structure_in = ch_fasta
            .filter { meta, _fasta -> structureById.containsKey(meta.id) }
            .map { meta, fasta -> [meta, fasta, structureById[meta.id]] }
        PREPARE_STRUCTURE(ch_structure_in)
        def ch_structures = PREPARE_STRUCTURE.out.structure
            .map { _meta, cif -> cif }
            .toSortedList { a, b -> a.name <=> b.name }
        def isScored = { f -> scored.contains(f.name.replaceAll('\\.npz$', '')) }
        def ch_attention_scored = ch_attention.filter(isScored).toSortedList { a, b -> a.name <=> b.name }
        def ch_jacobian_scored = ch_jacobian.filter(isScored).toSortedList { a, b -> a.name <=> b.name }
        def ch_evaluate_in = ch_attention_scored.map { maps -> ['attention', maps] }
            .mix(ch_jacobian_scored.map { maps -> ['jacobian', maps] })
        def ch_esm_head_scored = channel.value([])
        if (params.esm_head) {
            ch_esm_head_scored = ch_esm_head.filter(isScored).toSortedList { a, b -> a.name <=> b.name }
            ch_evaluate_in = ch_evaluate_in.mix(ch_esm_head_scored.map { maps -> ['esm_head', maps] })
        }
        EVALUATE(ch_evaluate_in, ch_structures)
        def more_dirs = params.esm_head ? ['esm_head'] : []
        COMPARE(ch_attention_scored, ch_jacobian_scored, ch_esm_head_scored, ch_structures, more_dirs)
    } else {
        log.warn('contactplug: no protein has a structure, so there is no evaluation and no report; give structures in the samplesheet or with --structures')
    }

    workflow.onComplete = {
        if (workflow.success) {
            log.info("contactplug: done; results in ${params.outdir} (report: ${params.outdir}/report/summary.html)")
        } else {
            log.error("contactplug: failed; the failing task's .command.err (in its work folder) says why; fix and rerun with -resume")
        }
    }
}
