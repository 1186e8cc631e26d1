/*
 * Precision at L, L/2 and L/5 (short, medium, long range) of one method's maps against the
 * structures: evaluation/<method>.csv and .json, one row per protein.
 */
process EVALUATE {
    tag "${method}"
    label 'process_low'
    conda "${moduleDir}/environment.yml"
    container "contactplug:${workflow.manifest.version}"

    input:
    tuple val(method), path(maps, stageAs: 'maps/*')
    path structures, stageAs: 'structures/*'

    output:
    tuple val(method), path("evaluation/${method}.csv"), path("evaluation/${method}.json"), emit: tables
    path 'versions.yml', emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    """
    OMP_NUM_THREADS=${task.cpus} contactplug evaluate maps --structure structures -o evaluation/${method}
    contactplug versions --process '${task.process}' -o versions.yml
    """

    stub:
    """
    mkdir -p evaluation && touch evaluation/${method}.csv evaluation/${method}.json versions.yml
    """
}
