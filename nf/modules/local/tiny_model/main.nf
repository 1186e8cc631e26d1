/*
 * A random 2-layer ESM-2 in fair-esm's .pt layout, for the test profile (--model tiny-random).
 * Its contacts are meaningless; it exists so the whole pipeline runs in seconds on a laptop.
 */
process TINY_MODEL {
    label 'process_low'
    conda "${moduleDir}/environment.yml"
    container "contactplug:${workflow.manifest.version}"

    output:
    tuple val('tiny_random.pt'), path('tiny_random*.pt'), emit: model
    path 'versions.yml', emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    """
    OMP_NUM_THREADS=${task.cpus} contactplug tiny-model -o tiny_random.pt --seed 0
    contactplug versions --process '${task.process}' -o versions.yml
    """

    stub:
    """
    touch tiny_random.pt tiny_random-contact-regression.pt versions.yml
    """
}
