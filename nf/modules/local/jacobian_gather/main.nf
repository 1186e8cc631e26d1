/*
 * Reassemble one protein's Jacobian parts into its map jacobian/<id>.npz; contactplug refuses
 * gaps, overlaps and parts of different sequences or models, and the result equals the
 * unsplit computation exactly.
 */
process JACOBIAN_GATHER {
    tag "${meta.id}"
    label 'process_low'
    conda "${moduleDir}/environment.yml"
    container "contactplug:${workflow.manifest.version}"

    input:
    tuple val(meta), path(parts, stageAs: 'parts/*')

    output:
    tuple val(meta), path("jacobian/${meta.id}.npz"), emit: map
    path 'versions.yml', emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    """
    OMP_NUM_THREADS=${task.cpus} contactplug gather-jacobian ${parts} -o jacobian
    contactplug versions --process '${task.process}' -o versions.yml
    """

    stub:
    """
    mkdir -p jacobian && touch jacobian/${meta.id}.npz versions.yml
    """
}
