/*
 * Contacts from ESM-2 attention heads: one forward pass per protein, many proteins per task
 * (one model load per batch), averaging the heads chosen in heads.json. Writes attention/<id>.npz.
 */
process ATTENTION_CONTACTS {
    tag "${batch}"
    label 'process_medium'
    label 'process_gpu'

    input:
    tuple val(batch), val(ids), path(fasta)
    tuple val(model), path(model_files)
    path heads

    output:
    path 'attention/*.npz', emit: maps

    script:
    def args = task.ext.args ?: ''
    def top_k = params.top_k ? "--top-k ${params.top_k}" : ''
    """
    OMP_NUM_THREADS=${task.cpus} contactplug predict ${fasta} -o attention --model ${model} --method attention --heads ${heads} --device ${params.device} ${top_k} ${args}
    """

    stub:
    def outputs = ids.collect { id -> "attention/${id}.npz" }.join(' ')
    """
    mkdir -p attention && touch ${outputs}
    """
}
