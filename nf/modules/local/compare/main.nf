/*
 * The report: attention against the Categorical Jacobian (and the ESM contact head when run)
 * on the proteins with structures: report/comparison.csv, summary.md, summary.html and PNG
 * figures (scatter_long_PL2.png, precision_vs_length.png, maps_<id>.png), and the MultiQC
 * custom-content files MULTIQC reads (contactplug_*_mqc.tsv / .json).
 */
process COMPARE {
    label 'process_low'
    conda "${moduleDir}/environment.yml"
    container "contactplug:${workflow.manifest.version}"

    input:
    path attention, stageAs: 'attention/*'
    path jacobian, stageAs: 'jacobian/*'
    path esm_head, stageAs: 'esm_head/*'
    path structures, stageAs: 'structures/*'

    output:
    path 'report/*', emit: report
    path 'report/*_mqc.*', emit: multiqc
    path 'versions.yml', emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def more = esm_head ? 'esm_head' : '' // no ESM contact-head maps: an empty input
    """
    OMP_NUM_THREADS=${task.cpus} contactplug compare attention jacobian ${more} --structures structures -o report ${args}
    contactplug versions --process '${task.process}' -o versions.yml
    """

    stub:
    """
    mkdir -p report && touch report/comparison.csv report/summary.md report/summary.html report/scatter_long_PL2.png report/precision_vs_length.png report/contactplug_precision_mqc.tsv versions.yml
    """
}
