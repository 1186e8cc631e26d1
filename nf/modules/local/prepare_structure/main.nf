/*
 * The chain a protein is scored against, written as structures/<id>.cif: the samplesheet's
 * chain, or the protein chain that aligns best to the sequence; for a complex, its chains
 * (the samplesheet's `chains`, in that order). Evaluation and the report
 * then find each structure by id, whatever the original file was called.
 */
process PREPARE_STRUCTURE {
    tag "${meta.id}"
    label 'process_low'
    conda "${moduleDir}/environment.yml"
    container "contactplug:${workflow.manifest.version}"

    input:
    tuple val(meta), path(fasta), path(structure)

    output:
    tuple val(meta), path("structures/${meta.id}.cif"), emit: structure
    path 'versions.yml', emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def chain = meta.chains ? "--chains ${meta.chains}" : (meta.chain ? "--chain ${meta.chain}" : '')
    """
    contactplug structure ${structure} --fasta ${fasta} ${chain} -o structures
    contactplug versions --process '${task.process}' -o versions.yml
    """

    stub:
    """
    mkdir -p structures && touch structures/${meta.id}.cif versions.yml
    """
}
