/*
 * The only Groovy helpers of the pipeline: turning --model into files to stage, and a row of
 * CHECK_INPUTS' tables into task metadata. Every input rule (samplesheet, FASTA, sequences,
 * structures, Jacobian chunks) is checked in Python by `contactplug samplesheet`.
 *
 * Plain Groovy and Nextflow's file()/error() only, so that tests/test_nextflow_commands.py
 * can call these functions with the Groovy of the Nextflow language server.
 */

/*
 * --model -> [spec, files]: a local .pt (with its -contact-regression.pt beside it) or an HF
 * folder is staged into the task (spec: its staged name); a name such as esm2_t6_8M_UR50D is
 * passed as it is (files: none) and loaded from the torch/HF cache or downloaded by the task.
 */
def modelInput(spec) {
    def text = spec.toString()
    def local = file(text)
    if (local.exists()) {
        if (local.isDirectory()) {
            return [local.name, [local]]
        }
        def stem = local.name.replaceAll('\\.pt$', '')
        def regression = local.resolveSibling("${stem}-contact-regression.pt")
        return [local.name, regression.exists() ? [local, regression] : [local]]
    }
    if (text.contains('/') || text.endsWith('.pt') || text.startsWith('~')) {
        error("--model ${text}: no such file or folder")
    }
    return [text, []]
}

/* What tags, output names and the Jacobian split need, from a row of proteins.csv or jacobian.csv. */
def proteinMeta(row) {
    return [id: row.id, length: row.length.toInteger(), chain: row.chain, chunks: row.chunks.toInteger()]
}
