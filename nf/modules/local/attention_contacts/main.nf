/*
 * Contacts from a protein language model's attention heads: one forward pass per protein, many proteins per task
 * (one model load per batch), averaging the heads chosen in heads.json. Writes attention/<id>.npz.
 */
process ATTENTION_CONTACTS {
    tag "${ids[0]} (+${ids.size() - 1})"
    label 'process_medium'
    label 'process_gpu'
    conda "${moduleDir}/environment.yml"
    container "contactplug:${workflow.manifest.version}"

    input:
    tuple val(ids), path(fasta, stageAs: 'fasta/*')
    tuple val(model), path(model_files)
    path heads

    output:
    path 'attention/*.npz', emit: maps
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
    def outputs = ids.collect { id -> "attention/${id}.npz" }.join(' ')
    """
    mkdir -p attention && touch ${outputs} versions.yml
    """
}
