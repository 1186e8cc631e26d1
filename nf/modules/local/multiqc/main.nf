/*
 * The MultiQC page nf-core pipelines end with: MultiQC (PyPI's, or bioconda's in conda and
 * containers) over the custom-content files `contactplug compare` writes beside its report
 * (*_mqc.tsv / *_mqc.json: precision per method, attention against the Jacobian per protein,
 * cost, and the inter-chain table for complexes), with every process's software versions,
 * in the order assets/multiqc_config.yml gives.
 * Writes multiqc/multiqc_report.html and multiqc/multiqc_report_data/ (--filename keeps these
 * names whatever --title an ext.args gives).
 */
process MULTIQC {
    label 'process_low'
    conda "${moduleDir}/environment.yml"
    container 'quay.io/biocontainers/multiqc:1.35--pyhdfd78af_0'

    input:
    path multiqc_files, stageAs: 'contactplug/*'
    path software_versions, stageAs: 'software_mqc_versions.yml'
    path multiqc_config

    output:
    path 'multiqc/multiqc_report.html', emit: report
    path 'multiqc/multiqc_report_data', emit: data
    path 'versions.yml', emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    """
    multiqc --force --no-ansi --config ${multiqc_config} --outdir multiqc --filename multiqc_report.html ${args} .
    printf '"%s":\\n    multiqc: %s\\n' '${task.process}' "\$(multiqc --version | sed 's/.*version //')" > versions.yml
    """

    stub:
    """
    mkdir -p multiqc/multiqc_report_data && touch multiqc/multiqc_report.html versions.yml
    """
}
