/*
 * Rank the model's attention heads once per run (on contactplug's shipped labelled
 * structures) and choose how many to average; every attention task then reads the same
 * heads.json. Skipped when --heads gives a ranking (e.g. heads/heads.json of an earlier run).
 */
process HEAD_RANKING {
    label 'process_medium'
    label 'process_gpu'
    conda "${moduleDir}/environment.yml"
    container "contactplug:${workflow.manifest.version}"

    input:
    tuple val(model), path(model_files)

    output:
    path 'heads/heads.json', emit: heads
    path 'versions.yml', emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    OMP_NUM_THREADS=${task.cpus} contactplug select-heads --model ${model} --reuse --no-cache -o heads/heads.json ${args}
    contactplug versions --process '${task.process}' -o versions.yml
    """

    stub:
    """
    mkdir -p heads && touch heads/heads.json versions.yml
    """
}
