/*
 * Input checks, run before any task: the samplesheet (or --fasta plus --structures), the
 * parameters and the model. Every problem stops the run with one line naming the row at fault.
 *
 * Only plain Groovy and Nextflow's file()/error()/log are used here, so that
 * tests/test_nextflow_commands.py can run these very functions with the Groovy runtime of
 * the Nextflow language server.
 */

def aminoAcids() {
    // the 20 standard residues plus the ambiguous letters ESM's alphabet knows (as contactplug)
    return 'ACDEFGHIKLMNPQRSTVWYXBZUO'
}

def structureSuffixes() {
    return ['.pdb', '.ent', '.cif', '.mmcif', '.pdb.gz', '.ent.gz', '.cif.gz', '.mmcif.gz']
}

def isStructureName(name) {
    def lower = name.toLowerCase()
    return structureSuffixes().any { suffix -> lower.endsWith(suffix) }
}

/*
 * Upper-case a sequence, drop whitespace and one trailing '*', refuse what ESM cannot read.
 * Returns [sequence, problem]; problem is null when the sequence is fine.
 */
def cleanSequence(raw) {
    def seq = raw.replaceAll('\\s+', '').toUpperCase()
    if (seq.endsWith('*')) {
        seq = seq.substring(0, seq.length() - 1)
    }
    if (seq.isEmpty()) {
        return [seq, 'empty sequence']
    }
    def bad = seq.toList().findAll { c -> !aminoAcids().contains(c) }.unique()
    if (bad) {
        return [seq, "characters '${bad.join('')}' are not amino acids"]
    }
    return [seq, null]
}

/*
 * FASTA text -> list of [id, sequence] in file order. The id is the first word of the header
 * with characters other than [A-Za-z0-9_.-] replaced by '_' (as contactplug does).
 */
def parseFasta(text, source) {
    def records = [] // [id, [sequence lines]]
    text.readLines().eachWithIndex { raw, index ->
        def line = raw.trim()
        if (line.isEmpty() || line.startsWith(';')) {
            return
        }
        if (line.startsWith('>')) {
            def words = line.substring(1).trim().tokenize()
            if (!words) {
                error("${source}: line ${index + 1}: empty FASTA header")
            }
            records << [words[0].replaceAll('[^A-Za-z0-9_.\\-]', '_'), []]
        } else if (!records) {
            error("${source}: line ${index + 1} comes before any '>' header; not a FASTA file")
        } else {
            records[-1][1] << line
        }
    }
    if (!records) {
        error("${source}: no FASTA records")
    }
    return records.collect { rec -> [rec[0], rec[1].join('')] }
}

/* One CSV line -> trimmed cells (no commas inside cells; surrounding quotes dropped). */
def csvCells(line) {
    return line.split(',', -1).collect { cell -> cell.trim().replaceAll('^"|"$', '').trim() }
}

/*
 * A path written in the samplesheet: absolute, remote (scheme://) or relative to the
 * samplesheet's own folder.
 */
def sheetPath(sheetFile, value) {
    if (value =~ /[*?\[\]{}]/) {
        return null
    }
    if (value.startsWith('/') || value.contains('://')) {
        return file(value)
    }
    return sheetFile.resolveSibling(value).normalize()
}

/*
 * The structure for an id in dir, as [file, chain] or null: <id>.<suffix> (stem compared
 * without case), else <base>.<suffix> with the chain from the id's end (1AQT_A -> 1AQT.pdb,
 * chain A), the rule contactplug evaluate uses.
 */
def findStructure(dir, id) {
    def files = dir.listFiles().findAll { f -> isStructureName(f.name) }.sort { f -> f.name }
    def named = { stem -> files.find { f -> structureSuffixes().any { s -> f.name.toLowerCase() == stem.toLowerCase() + s } } }
    def exact = named.call(id)
    if (exact) {
        return [exact, '']
    }
    def m = id =~ /(.+)[_.:\-]([A-Za-z0-9]{1,4})/
    if (m.matches()) {
        def base = named.call(m.group(1))
        if (base) {
            return [base, m.group(2)]
        }
    }
    return null
}

def checkId(id, where) {
    if (!id) {
        error("${where}: empty id")
    }
    if (!(id ==~ /[A-Za-z0-9_.\-]+/)) {
        error("${where}: id '${id}' may only hold letters, digits, '_', '.' and '-' (it names files)")
    }
}

def checkUnique(proteins, source) {
    def seen = [:]
    proteins.each { p ->
        def key = p.id.toLowerCase()
        if (seen.containsKey(key)) {
            error("${source}: id '${p.id}' appears twice (${seen[key]} and ${p.where}); ids must be unique, ignoring case")
        }
        seen[key] = p.where
    }
}

/*
 * Samplesheet CSV -> list of proteins [id, sequence, structure (a path or null), chain, where].
 * Columns: id, sequence and/or fasta (one of them filled per row), structure, chain.
 */
def readSamplesheet(sheet, structuresDir) {
    def sheetFile = file(sheet)
    if (!sheetFile.exists() || sheetFile.isDirectory()) {
        error("--input ${sheet}: no such samplesheet file")
    }
    def lines = sheetFile.text.readLines()
        .withIndex()
        .findAll { line, _index -> line.trim() && !line.trim().startsWith('#') }
    if (!lines) {
        error("--input ${sheet}: the samplesheet is empty")
    }
    def header = csvCells(lines[0][0]).collect { name -> name.toLowerCase() }
    def known = ['id', 'sequence', 'fasta', 'structure', 'chain']
    def unknown = header.findAll { name -> !known.contains(name) }
    if (unknown) {
        error("--input ${sheet}: unknown column(s) ${unknown.join(', ')} (columns: ${known.join(', ')})")
    }
    if (!header.contains('id') || !(header.contains('sequence') || header.contains('fasta'))) {
        error("--input ${sheet}: the header needs 'id' and 'sequence' or 'fasta' (got: ${lines[0][0].trim()})")
    }
    if (header.unique(false).size() != header.size()) {
        error("--input ${sheet}: a column name is repeated in the header")
    }
    if (lines.size() < 2) {
        error("--input ${sheet}: no rows below the header")
    }
    def proteins = lines.drop(1).withIndex().collect { entry, k ->
        def (line, lineIndex) = entry
        def row = k + 1
        def where = "samplesheet row ${row}"
        def cells = csvCells(line)
        if (cells.size() != header.size()) {
            error("${where}: ${cells.size()} fields, the header has ${header.size()} (line ${lineIndex + 1} of ${sheet})")
        }
        def values = [header, cells].transpose().collectEntries { name, cell -> [name, cell] }
        def id = values.id
        checkId(id, where)
        where = "samplesheet row ${row} (${id})"
        def sequence = values.sequence ?: ''
        def fasta = values.fasta ?: ''
        if (sequence && fasta) {
            error("${where}: give a sequence or a fasta file, not both")
        }
        if (!sequence && !fasta) {
            error("${where}: no sequence and no fasta file")
        }
        if (fasta) {
            def fastaFile = sheetPath(sheetFile, fasta)
            if (fastaFile == null || !fastaFile.exists()) {
                error("${where}: fasta file '${fasta}' does not exist${fastaFile == null ? '' : " (looked at ${fastaFile})"}")
            }
            def records = parseFasta(fastaFile.text, fasta)
            def hit = records.find { rec -> rec[0] == id }
            if (hit == null && records.size() == 1) {
                hit = records[0]
            }
            if (hit == null) {
                error("${where}: '${fasta}' holds ${records.size()} records and none is named '${id}'")
            }
            sequence = hit[1]
        }
        def (clean, problem) = cleanSequence(sequence)
        if (problem) {
            error("${where}: ${problem}")
        }
        def structure = null
        if (values.structure) {
            structure = sheetPath(sheetFile, values.structure)
            if (structure == null || !structure.exists() || structure.isDirectory()) {
                error("${where}: structure file '${values.structure}' does not exist${structure == null ? '' : " (looked at ${structure})"}")
            }
            if (!isStructureName(structure.name)) {
                error("${where}: structure '${values.structure}' is not .pdb, .ent, .cif or .mmcif (optionally .gz)")
            }
        }
        def chain = values.chain ?: ''
        if (!structure && structuresDir) {
            def found = findStructure(structuresDir, id)
            structure = found ? found[0] : null
            chain = chain ?: (found ? found[1] : '')
        }
        if (chain && !structure) {
            error("${where}: a chain ('${chain}') is given but no structure")
        }
        if (chain && !(chain ==~ /[A-Za-z0-9]{1,4}/)) {
            error("${where}: chain '${chain}' is not a chain name (1-4 letters or digits)")
        }
        return [id: id, sequence: clean, structure: structure, chain: chain, where: where]
    }
    checkUnique(proteins, "--input ${sheet}")
    return proteins
}

/* --fasta (and --structures DIR, matched by id) -> the same records as readSamplesheet. */
def readFastaInput(fasta, structuresDir) {
    def fastaFile = file(fasta)
    if (!fastaFile.exists() || fastaFile.isDirectory()) {
        error("--fasta ${fasta}: no such FASTA file")
    }
    def proteins = parseFasta(fastaFile.text, fasta).collect { rec ->
        def (id, sequence) = rec
        def where = "--fasta ${fasta}: record '${id}'"
        checkId(id, where)
        def (clean, problem) = cleanSequence(sequence)
        if (problem) {
            error("${where}: ${problem}")
        }
        def found = structuresDir ? findStructure(structuresDir, id) : null
        return [id: id, sequence: clean, structure: found ? found[0] : null, chain: found ? found[1] : '', where: where]
    }
    checkUnique(proteins, "--fasta ${fasta}")
    return proteins
}

def isCount(value, least) {
    return value != null && value.toString().isInteger() && value.toString().toInteger() >= least
}

/* Parameter checks that the schema alone cannot make; stops at the first problem. */
def checkParams(p) {
    if (p.input && p.fasta) {
        error('give --input (a samplesheet) or --fasta, not both')
    }
    if (!p.input && !p.fasta) {
        error('no proteins: give --input samplesheet.csv or --fasta proteins.fasta (see nf/README.md)')
    }
    if (!isCount(p.attention_batch, 1)) {
        error("--attention_batch ${p.attention_batch}: give a whole number >= 1")
    }
    if (!isCount(p.cj_chunk, 0)) {
        error("--cj_chunk ${p.cj_chunk}: give a whole number of positions >= 0 (0: no split)")
    }
    if (p.cj_batch_size != null && !isCount(p.cj_batch_size, 1)) {
        error("--cj_batch_size ${p.cj_batch_size}: give a whole number >= 1 (or leave it out: sized from free memory)")
    }
    if (p.top_k != null && !isCount(p.top_k, 1)) {
        error("--top_k ${p.top_k}: give a whole number of heads >= 1")
    }
    if (!(p.device.toString() ==~ /auto|cpu|cuda(:\d+)?|mps/)) {
        error("--device ${p.device}: choose auto, cpu, cuda, cuda:N or mps")
    }
    if (p.heads && !file(p.heads.toString()).exists()) {
        error("--heads ${p.heads}: no such head-ranking file (write one with contactplug select-heads)")
    }
    if (!p.model) {
        error('--model is empty: give an ESM-2 name, a fair-esm .pt file or a HuggingFace folder')
    }
}

/* All proteins from --input or --fasta, sorted by id (so tasks and batches are reproducible). */
def readProteins(p) {
    def structuresDir = null
    if (p.structures) {
        structuresDir = file(p.structures)
        if (!structuresDir.isDirectory()) {
            error("--structures ${p.structures}: no such folder")
        }
    }
    def proteins = p.input ? readSamplesheet(p.input, structuresDir) : readFastaInput(p.fasta, structuresDir)
    return proteins.sort { a, b -> a.id <=> b.id }
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

/* 1-based inclusive [first, last] position ranges of one protein's Jacobian tasks. */
def jacobianChunks(length, chunk) {
    def size = chunk.toString().toInteger()
    if (size <= 0 || size >= length) {
        return [[1, length]]
    }
    def n = (length + size - 1).intdiv(size)
    return (0..<n).collect { k -> [k * size + 1, Math.min((k + 1) * size, length)] }
}

/* Task metadata of each protein: what tags, output names and the Jacobian split need. */
def proteinMetas(proteins, chunk) {
    return proteins.collect { p ->
        def length = p.sequence.length()
        [id: p.id, length: length, chain: p.chain, chunks: jacobianChunks(length, chunk).size()]
    }
}

/*
 * The batches of the one-pass methods: [name, ids, FASTA text] per --attention_batch proteins,
 * in the given (sorted) order, so a rerun makes the same batches and -resume finds them.
 */
def fastaBatches(proteins, size) {
    def n = size.toString().toInteger()
    return proteins.collate(n).withIndex().collect { entry ->
        def batch = entry[0]
        def name = 'batch_' + (entry[1] + 1).toString().padLeft(4, '0')
        [name, batch.collect { p -> p.id }, fastaText(batch)]
    }
}

/*
 * Write text once to dir/<stem>.<digest>.fasta and return that path. The name holds a digest
 * of the content, so an existing file is already right and is never rewritten: -resume sees
 * the same path and timestamp for unchanged proteins, and an edited sequence gets a new file
 * (and new tasks). Written to a temporary name first, then moved: never a half-written file.
 */
def storeFasta(dir, stem, text) {
    def target = dir.resolve("${stem}.${text.md5().substring(0, 12)}.fasta")
    if (!java.nio.file.Files.exists(target)) {
        java.nio.file.Files.createDirectories(dir)
        def tmp = dir.resolve(".${target.getFileName()}.${System.nanoTime()}.tmp")
        java.nio.file.Files.write(tmp, text.getBytes('UTF-8'))
        java.nio.file.Files.move(tmp, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING)
    }
    return target
}

/* FASTA text of some proteins, in the given order. */
def fastaText(proteins) {
    return proteins.collect { p -> ">${p.id}\n${p.sequence}\n" }.join('')
}

/* The validated input as CSV, kept in pipeline_info/ for the record. */
def samplesheetText(proteins) {
    def rows = proteins.collect { p -> [p.id, p.sequence, p.structure ?: '', p.chain].join(',') }
    return (['id,sequence,structure,chain'] + rows).join('\n') + '\n'
}
