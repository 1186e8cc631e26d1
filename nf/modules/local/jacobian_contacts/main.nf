/*
 * The Categorical Jacobian of one protein: 20 forward passes per position (+1 for the wild
 * type). With --cj_chunk N a protein is split into tasks of N positions that each write a
 * partial tensor jacobian/<id>.part<FIRST>-<LAST>.npz (1-based, inclusive), assembled
 * by JACOBIAN_GATHER; unsplit, the task writes the map jacobian/<id>.npz itself.
 */
process JACOBIAN_CONTACTS {
    tag "${meta.id}:${first}-${last}"
    label 'process_high'
    label 'process_gpu'
    conda "${moduleDir}/environment.yml"
    container "contactplug:${workflow.manifest.version}"

    input:
    tuple val(meta), path(fasta), val(first), val(last)
    tuple val(model), path(model_files)

    output:
    tuple val(meta), path('jacobian/*.npz'), emit: maps
    path 'versions.yml', emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def positions = meta.chunks > 1 ? "--positions ${first}-${last}" : ''
    """
    OMP_NUM_THREADS=${task.cpus} contactplug jacobian ${fasta} -o jacobian --model ${model} ${positions} ${args}
    contactplug versions --process '${task.process}' -o versions.yml
    """

    stub:
    def output = meta.chunks > 1 ? "jacobian/${meta.id}.part${first}-${last}.npz" : "jacobian/${meta.id}.npz"
    """
    mkdir -p jacobian && touch ${output} versions.yml
    """
}
