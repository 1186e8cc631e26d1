/*
 * Contacts from a protein language model's attention heads: one forward pass per protein, many proteins per task
 * (one model load per batch), averaging the heads chosen in heads.json. Writes attention/<id>.npz, or with
 * --store pairs (ext.args: --store pairs --keep K --part <part>) the batch's best pairs as one Parquet part,
 * attention/<part>.parquet, named by the batch (the utils subworkflow's partName) so that -resume and a rerun
 * into the same --outdir find it.
 */
process ATTENTION_CONTACTS {
    tag "${ids[0]} (+${ids.size() - 1})"
    label 'process_medium'
    label 'process_gpu'
    conda "${moduleDir}/environment.yml"
    container "contactplug:${workflow.manifest.version}"

    input:
    tuple val(ids), val(part), path(fasta, stageAs: 'fasta/*')
    tuple val(model), path(model_files)
    path heads

    output:
    path 'attention/*.npz', emit: maps, optional: true
    tuple val(ids), path("attention/${part}.parquet"), emit: pairs, optional: true
    path 'versions.yml', emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    OMP_NUM_THREADS=${task.cpus} contactplug predict ${fasta} -o attention --model ${model} --method attention --heads ${heads} ${args}
    contactplug versions --process '${task.process}' -o versions.yml
    """

    stub:
    def args = task.ext.args ?: ''
    def outputs = args.contains('--store pairs') ? "attention/${part}.parquet" : ids.collect { id -> "attention/${id}.npz" }.join(' ')
    """
    mkdir -p attention && touch ${outputs} versions.yml
    """
}
