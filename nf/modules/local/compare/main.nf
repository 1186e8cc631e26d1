/*
 * The report: attention against the Categorical Jacobian (and the ESM contact head when run)
 * on the proteins with structures: report/comparison.csv, summary.md, summary.html and PNG
 * figures (scatter_long_PL2.png, precision_vs_length.png, maps_<id>.png).
 */
process COMPARE {
    label 'process_low'

    input:
    path attention, stageAs: 'attention/*'
    path jacobian, stageAs: 'jacobian/*'
    path esm_head, stageAs: 'esm_head/*'
    path structures, stageAs: 'structures/*'

    output:
    path 'report/*', emit: report
    path 'versions.yml', emit: versions

    script:
    def args = task.ext.args ?: ''
    def more = params.esm_head ? 'esm_head' : ''
    """
    OMP_NUM_THREADS=${task.cpus} contactplug compare attention jacobian ${more} --structures structures -o report ${args}
    contactplug versions --process '${task.process}' -o versions.yml
    """

    stub:
    """
    mkdir -p report && touch report/comparison.csv report/summary.md report/summary.html report/scatter_long_PL2.png report/precision_vs_length.png versions.yml
    """
}
