/*
 * Baseline: ESM-2's own supervised contact head (logistic regression over all heads), batched
 * like ATTENTION_CONTACTS. Only with --esm_head; needs a checkpoint with contact weights.
 */
process ESM_HEAD_CONTACTS {
    tag "${ids[0]} (+${ids.size() - 1})"
    label 'process_medium'
    label 'process_gpu'
    conda "${moduleDir}/environment.yml"
    container "contactplug:${workflow.manifest.version}"

    input:
    tuple val(ids), path(fasta, stageAs: 'fasta/*')
    tuple val(model), path(model_files)

    output:
    path 'esm_head/*.npz', emit: maps
    path 'versions.yml', emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    OMP_NUM_THREADS=${task.cpus} contactplug predict ${fasta} -o esm_head --model ${model} --method esm-head ${args}
    contactplug versions --process '${task.process}' -o versions.yml
    """

    stub:
    def outputs = ids.collect { id -> "esm_head/${id}.npz" }.join(' ')
    """
    mkdir -p esm_head && touch ${outputs} versions.yml
    """
}
