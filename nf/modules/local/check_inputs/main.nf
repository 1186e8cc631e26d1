/*
 * The pipeline's first task: `contactplug samplesheet` checks the samplesheet (or --fasta and
 * --structures) and writes the tables the workflow fans out over: inputs/proteins.csv, one row
 * per protein sorted by id, and inputs/jacobian.csv, one row per Jacobian task (--cj_chunk
 * positions). Each protein's FASTA goes to a content-addressed store under the work folder
 * (<id>.<digest>.fasta, never rewritten), so -resume keeps the tasks of unchanged proteins.
 * Any input problem stops the run here with one line naming the row at fault (exit 2).
 */
process CHECK_INPUTS {
    label 'process_low'
    // The samplesheet names other files by path; read them on every run, since an edited
    // FASTA or structure behind an unchanged samplesheet must be seen. Its outputs are
    // content-addressed, so the tasks downstream are reused all the same.
    cache false
    conda "${moduleDir}/environment.yml"
    container "contactplug:${workflow.manifest.version}"

    input:
    val input
    val fasta
    val structures
    val store

    output:
    path 'inputs/proteins.csv', emit: proteins
    path 'inputs/jacobian.csv', emit: jacobian
    path 'versions.yml', emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args = task.ext.args ?: ''
    def sheet = input ? "--input ${input}" : ''
    def records = fasta ? "--fasta ${fasta}" : ''
    def folder = structures ? "--structures ${structures}" : ''
    """
    contactplug samplesheet ${sheet} ${records} ${folder} --store ${store} -o inputs ${args}
    contactplug versions --process '${task.process}' -o versions.yml
    """

    stub:
    // the check itself is quick and needs no model: a stub run checks the inputs for real
    def args = task.ext.args ?: ''
    def sheet = input ? "--input ${input}" : ''
    def records = fasta ? "--fasta ${fasta}" : ''
    def folder = structures ? "--structures ${structures}" : ''
    """
    contactplug samplesheet ${sheet} ${records} ${folder} --store ${store} -o inputs ${args}
    touch versions.yml
    """
}
