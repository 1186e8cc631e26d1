/*
 * The pipeline's start and end, and its only Groovy helpers (nf-core keeps these in a utils
 * subworkflow): parameters checked against nextflow_schema.json, the closing message; turning
 * --model into files to stage, a row of CHECK_INPUTS' tables into task metadata, and a
 * method's maps into the list of those that are scored. Every input rule (samplesheet, FASTA, sequences,
 * structures, complexes, Jacobian chunks) is checked in Python by `contactplug samplesheet`.
 *
 * The functions are plain Groovy and Nextflow's file()/error() only, so that
 * tests/test_nextflow_commands.py can call them with the Groovy of the Nextflow language server.
 */

include { validateParameters } from 'plugin/nf-schema'

workflow PIPELINE_INITIALISATION {
    main:
    // Parameters against nextflow_schema.json, and the samplesheet's columns against
    // assets/schema_input.json; CHECK_INPUTS then checks every row and file.
    validateParameters()
}

workflow PIPELINE_COMPLETION {
    take:
    outdir // --outdir

    main:
    workflow.onComplete = {
        if (workflow.success) {
            log.info("contactplug: done; results in ${outdir} (report: ${outdir}/report/summary.html, ${outdir}/multiqc/multiqc_report.html)")
        } else {
            log.error("contactplug: failed; the failing task's .command.err (in its work folder) says why; fix and rerun with -resume")
        }
    }
}

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

/*
 * What tags, output names and the Jacobian split need, from a row of proteins.csv or
 * jacobian.csv. chains: a complex's structure chains ('A,B'), '' for one chain.
 */
def proteinMeta(row) {
    return [id: row.id, length: row.length.toInteger(), chain: row.chain, chains: row.chains, chunks: row.chunks.toInteger()]
}

/*
 * The files of the proteins that have a structure (npz maps, or the pairs parts that hold
 * them: a part once however many of its proteins are scored), one list sorted by name; none
 * if empty.
 */
def scoredMaps(ch_maps, ch_scored) {
    return ch_maps
        .join(ch_scored)
        .map { _id, maps, _scored -> maps }
        .unique()
        .toSortedList { a, b -> a.name <=> b.name }
        .filter { maps -> !maps.isEmpty() }
}

/*
 * --store pairs: a batch's part name, `<first id>+<how many follow>.<digest>`. The digest is
 * of its ids, its FASTA files' names (CHECK_INPUTS names each by a digest of its content) and
 * the settings that shape a map, so a name is its content: a part published under it is that
 * batch's, and publishDir not overwriting it on -resume loses nothing.
 */
def partName(ids, fastas, settings) {
    def key = [ids.join(','), fastas.collect { fasta -> fasta.name }.join(','), settings].join('\n')
    def digest = java.security.MessageDigest.getInstance('SHA-256').digest(key.getBytes('UTF-8'))
    return "${ids[0].take(100)}+${ids.size() - 1}.${digest.encodeHex().toString().take(12)}"
}

/*
 * The part `<folder>/<part>.parquet` when an earlier run published it whole, else null (the
 * batch runs). A copy cut short by a stopped run lacks Parquet's closing 'PAR1'.
 */
def publishedPart(folder, part) {
    def path = file("${folder}/${part}.parquet")
    if (!path.exists()) {
        return null
    }
    def size = java.nio.file.Files.size(path)
    if (size < 12) {
        return null
    }
    def tail = java.nio.ByteBuffer.allocate(4)
    java.nio.file.Files.newByteChannel(path).withCloseable { bytes -> bytes.position(size - 4).read(tail) }
    return new String(tail.array(), 'US-ASCII') == 'PAR1' ? path : null
}

/*
 * The parts in `folder` that are none of this run's (`names`): an earlier run's batches that
 * differ from today's (a protein added or edited, other settings). They stay until removed,
 * and a reader of the folder refuses a protein stored twice.
 */
def staleParts(folder, names) {
    def dir = file(folder.toString())
    if (!dir.isDirectory()) {
        return []
    }
    return dir.listFiles()
        .findAll { path -> path.name.endsWith('.parquet') && !(path.name in names) }
        .collect { path -> path.name }
        .sort()
}
