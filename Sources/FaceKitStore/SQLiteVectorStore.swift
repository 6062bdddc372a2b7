import FaceKit
import Foundation
import GRDB

/// The embedded face store: one SQLite file (WAL), opened by any number of
/// processes at once. Vectors are float32 little-endian BLOBs; each face row
/// points at the pipeline signature it was computed under.
public final class SQLiteVectorStore: VectorStore {
    public let path: String
    let pool: DatabasePool
    /// Loaded matrices per signature id; reloaded when the signature's change
    /// counter (kept by triggers, so other processes' writes count) moves.
    private let indexes = Locked<[Int64: ExactIndex]>([:])
    /// faiss indexes per signature id, and the store generation each is in
    /// step with.
    private let anns = Locked<[Int64: ANNState]>([:])
    /// One catch-up of an ANN index at a time in this process.
    private let annSync = NSLock()
    private let annSettings: Locked<ANNOptions>
    /// The ANN options; changing the search depth applies to loaded indexes.
    public var annOptions: ANNOptions { annSettings.withLock { $0 } }

    /// Sets how wide ANN searches look (IVF lists probed, HNSW efSearch),
    /// for indexes loaded now and later: the benchmark's sweep.
    public func setANNDepth(probeFraction: Double? = nil, efSearch: Int? = nil, candidates: Int? = nil) throws {
        let options = annSettings.withLock { options -> ANNOptions in
            if let probeFraction { options.probeFraction = probeFraction }
            if let efSearch { options.efSearch = efSearch }
            if let candidates { options.candidates = candidates }
            return options
        }
        for state in anns.withLock({ Array($0.values) }) {
            if let index = state.index { try index.setDepth(options.depth(lists: index.lists)) }
        }
    }

    struct ANNState {
        /// nil: too few vectors for an index at this generation.
        var index: ANNIndex?
        var generation: Int64
        var maxID: Int64
        /// Rows added or removed since the file was last written.
        var unsaved: Int
    }

    /// Opens (creating if needed) the store at `path` and brings its schema
    /// up to date.
    public init(path: String, ann: ANNOptions = ANNOptions()) throws {
        self.path = path
        self.annSettings = Locked(ann)
        var config = Configuration()
        // Another process may hold the write lock for a whole batch; wait
        // rather than fail.
        config.busyMode = .timeout(60)
        config.prepareDatabase { db in
            // WAL with NORMAL sync loses at most the last transactions on a
            // power cut, never consistency; a killed process loses nothing committed.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            pool = try Self.openPool(path: path, configuration: config)
            try StoreSchema.migrate(pool)
        } catch let error as FaceKitError {
            throw error
        } catch {
            throw FaceKitError.store("cannot open \(path): \(error)")
        }
    }

    /// Switching a new file to WAL needs a lock that SQLite does not wait
    /// for (the busy timeout is not consulted), so two processes creating the
    /// same store at once can see SQLITE_BUSY here: retry for a while.
    static func openPool(path: String, configuration: Configuration) throws -> DatabasePool {
        var attempt = 0
        while true {
            do {
                return try DatabasePool(path: path, configuration: configuration)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && attempt < 100 {
                attempt += 1
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
    }

    /// `$FACEKIT_HOME/faces.sqlite` (by default `~/.facekit/faces.sqlite`).
    public static func defaultPath(models: ModelStore = ModelStore()) -> String {
        models.home.appendingPathComponent("faces.sqlite").path
    }

    /// Bytes the store takes on disk: the database, its WAL, and the ANN indexes.
    public func diskUsage() throws -> Int64 {
        let manager = FileManager.default
        var total: Int64 = 0
        for file in [path, path + "-wal", path + "-shm"] {
            total += (try? manager.attributesOfItem(atPath: file)[.size] as? Int64) ?? 0
        }
        if let files = try? manager.contentsOfDirectory(atPath: path + "-ann") {
            for file in files {
                total += (try? manager.attributesOfItem(atPath: path + "-ann/" + file)[.size] as? Int64) ?? 0
            }
        }
        return total
    }

    // MARK: writing

    /// Runs `body` in one IMMEDIATE transaction: it takes the write lock
    /// first, so a read-then-write never meets another process's commit
    /// half-way (SQLITE_BUSY_SNAPSHOT, which no busy timeout retries).
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                return result!
            }
        } catch let error as FaceKitError {
            throw error
        } catch {
            throw FaceKitError.store("\(path): \(error)")
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.read(body)
        } catch let error as FaceKitError {
            throw error
        } catch {
            throw FaceKitError.store("\(path): \(error)")
        }
    }

    /// The id of a signature's row, created on first use.
    func signatureID(_ signature: PipelineSignature, _ db: Database) throws -> Int64 {
        try db.execute(sql: """
            INSERT OR IGNORE INTO signature
              (key, model, model_sha256, dimensions, detector, align, alignment, expand_percentage, normalization, facekit_version)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [signature.key, signature.model, signature.modelSHA256, signature.dimensions,
                             signature.detector, signature.align, signature.alignment, signature.expandPercentage,
                             signature.normalization, signature.version])
        return try Int64.fetchOne(db, sql: "SELECT id FROM signature WHERE key = ?", arguments: [signature.key])!
    }

    func existingSignatureID(_ signature: PipelineSignature, _ db: Database) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT id FROM signature WHERE key = ?", arguments: [signature.key])
    }

    func insert(_ faces: [FaceRecord], signatureID: Int64, dimensions: Int, _ db: Database) throws -> [Int64] {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO face (signature_id, identity, embedding, source_path, source_sha256, x, y, w, h, face_confidence)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        var ids: [Int64] = []
        ids.reserveCapacity(faces.count)
        for face in faces {
            guard face.embedding.count == dimensions else {
                throw FaceKitError.invalidInput("embedding of \(face.identity) has \(face.embedding.count) dimensions, the pipeline \(dimensions)")
            }
            let a = face.facialArea
            try statement.execute(arguments: [signatureID, face.identity, VectorCoding.encode(face.embedding),
                                              face.sourcePath, face.sourceSHA256, a.x, a.y, a.w, a.h, face.faceConfidence])
            ids.append(db.lastInsertedRowID)
        }
        return ids
    }

    @discardableResult
    public func add(_ faces: [FaceRecord], signature: PipelineSignature) throws -> [Int64] {
        guard !faces.isEmpty else { return [] }
        return try write { db in
            try insert(faces, signatureID: try signatureID(signature, db), dimensions: signature.dimensions, db)
        }
    }

    @discardableResult
    public func delete(identity: String) throws -> Int {
        try write { db in
            // The ledger rows of the identity's images go too: they hold its
            // file paths. A later `register --from` of a folder that still has
            // those images enrols them again, as it would any new file.
            try db.execute(sql: """
                DELETE FROM indexed_file WHERE EXISTS (
                  SELECT 1 FROM face WHERE face.identity = ? AND face.signature_id = indexed_file.signature_id
                                       AND face.source_path = indexed_file.path)
                """, arguments: [identity])
            try db.execute(sql: "DELETE FROM face WHERE identity = ?", arguments: [identity])
            return db.changesCount
        }
    }

    @discardableResult
    public func delete(id: Int64) throws -> Bool {
        try write { db in
            try db.execute(sql: "DELETE FROM face WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    // MARK: reading

    public func count(signature: PipelineSignature) throws -> Int {
        try read { db in
            guard let sid = try existingSignatureID(signature, db) else { return 0 }
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM face WHERE signature_id = ?", arguments: [sid]) ?? 0
        }
    }

    public func identities(signature: PipelineSignature?) throws -> [IdentitySummary] {
        try read { db in
            var sql = """
                SELECT face.identity, COUNT(*), GROUP_CONCAT(DISTINCT signature.model)
                FROM face JOIN signature ON signature.id = face.signature_id
                """
            var arguments: StatementArguments = []
            if let signature {
                sql += " WHERE signature.key = ?"
                arguments = [signature.key]
            }
            sql += " GROUP BY face.identity ORDER BY face.identity"
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                let models: String = row[2] ?? ""
                return IdentitySummary(identity: row[0], faces: row[1],
                                       models: models.split(separator: ",").map(String.init).sorted())
            }
        }
    }

    public var location: String { path }

    public func searchPlan(_ mode: SearchMode, signature: PipelineSignature, metric: DistanceMetric,
                           limit: SearchLimit) throws -> (mode: SearchMode, note: String?) {
        guard mode == .ann else { return (.exact, nil) }
        if metric == .euclidean {
            return (.exact, "the faiss index orders by cosine, which does not order euclidean distances: searched exactly")
        }
        if limit.top == nil {
            return (.exact, "an ANN index answers top-k queries, not every face within a distance: searched exactly")
        }
        let count = try self.count(signature: signature)
        if count < annOptions.minimumCount {
            return (.exact, "\(count) vectors, below the \(annOptions.minimumCount) where an index beats a scan: searched exactly")
        }
        return (.ann, nil)
    }

    public func search(_ query: [Float], signature: PipelineSignature, metric: DistanceMetric,
                       limit: SearchLimit, mode: SearchMode) throws -> [StoredMatch] {
        if mode == .ann, metric != .euclidean, let k = limit.top {
            guard query.count == signature.dimensions else {
                throw FaceKitError.invalidInput("query has \(query.count) dimensions, the store's pipeline has \(signature.dimensions)")
            }
            if let (sid, ann) = try syncedANN(signature) {
                return try annSearch(query, sid: sid, ann: ann, metric: metric, k: k, maxDistance: limit.maxDistance)
            }
        }
        guard let (sid, index) = try currentIndex(signature) else { return [] }
        let hits = try index.search(query, metric: metric, limit: limit)
        guard !hits.isEmpty else { return [] }
        let rows = try read { db -> [Int64: Row] in
            let ids = hits.map { index.ids[$0.row] }
            let placeholders = Array(repeating: "?", count: ids.count).joined(separator: ",")
            let fetched = try Row.fetchAll(db, sql: """
                SELECT id, identity, source_path, source_sha256, x, y, w, h FROM face
                WHERE signature_id = ? AND id IN (\(placeholders))
                """, arguments: StatementArguments([sid] + ids))
            return Dictionary(uniqueKeysWithValues: fetched.map { ($0["id"] as Int64, $0) })
        }
        // A face deleted by another process since the matrix was loaded is left out.
        return hits.compactMap { hit in
            let id = index.ids[hit.row]
            guard let row = rows[id] else { return nil }
            return StoredMatch(id: id, identity: row["identity"], distance: hit.distance,
                               sourcePath: row["source_path"], sourceSHA256: row["source_sha256"],
                               facialArea: FacialArea(x: row["x"], y: row["y"], w: row["w"], h: row["h"]))
        }
    }

    /// The signature's matrix, loaded from SQLite only when it changed since
    /// the last search.
    func currentIndex(_ signature: PipelineSignature) throws -> (Int64, ExactIndex)? {
        try read { db -> (Int64, ExactIndex)? in
            guard let row = try Row.fetchOne(db, sql: "SELECT id, generation, dimensions FROM signature WHERE key = ?",
                                             arguments: [signature.key]) else { return nil }
            let sid: Int64 = row[0], generation: Int64 = row[1], dimensions: Int = row[2]
            if let cached = indexes.withLock({ $0[sid] }), cached.generation == generation { return (sid, cached) }
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM face WHERE signature_id = ?", arguments: [sid]) ?? 0
            let (ids, matrix) = try fetchRows(db, sid: sid, dimensions: dimensions, after: nil, expected: count)
            let index = ExactIndex(dimensions: dimensions, ids: ids, matrix: matrix, generation: generation)
            indexes.withLock { $0[sid] = index }
            return (sid, index)
        }
    }
}

// MARK: ledger

extension SQLiteVectorStore {
    public func ledger(signature: PipelineSignature, under prefix: String) throws -> [String: LedgerEntry] {
        try read { db in
            guard let sid = try existingSignatureID(signature, db) else { return [:] }
            var known: [String: LedgerEntry] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT path, size, mtime, sha256 FROM indexed_file
                WHERE signature_id = ? AND substr(path, 1, ?) = ?
                """, arguments: [sid, prefix.utf8.count, prefix]) {
                let entry = LedgerEntry(path: row[0], size: row[1], mtime: row[2], sha256: row[3])
                known[entry.path] = entry
            }
            return known
        }
    }

    public func commit(_ updates: [LedgerUpdate], signature: PipelineSignature) throws {
        guard !updates.isEmpty else { return }
        try write { db in
            let sid = try signatureID(signature, db)
            for update in updates {
                let e = update.entry
                try db.execute(sql: "DELETE FROM face WHERE signature_id = ? AND source_path = ?", arguments: [sid, e.path])
                _ = try insert(update.records, signatureID: sid, dimensions: signature.dimensions, db)
                try db.execute(sql: """
                    INSERT OR REPLACE INTO indexed_file (signature_id, path, size, mtime, sha256, status, message, faces)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [sid, e.path, e.size, e.mtime, e.sha256, update.status.rawValue, update.message,
                                     update.records.count])
            }
        }
    }

    public func reconcile(removed: [String], touched: [LedgerEntry], signature: PipelineSignature) throws {
        guard !removed.isEmpty || !touched.isEmpty else { return }
        try write { db in
            let sid = try signatureID(signature, db)
            for path in removed {
                try db.execute(sql: "DELETE FROM face WHERE signature_id = ? AND source_path = ?", arguments: [sid, path])
                try db.execute(sql: "DELETE FROM indexed_file WHERE signature_id = ? AND path = ?", arguments: [sid, path])
            }
            for e in touched {
                try db.execute(sql: "UPDATE indexed_file SET size = ?, mtime = ? WHERE signature_id = ? AND path = ?",
                               arguments: [e.size, e.mtime, sid, e.path])
            }
        }
    }
}

// MARK: reindex

extension SQLiteVectorStore {
    public func staleFaces(model: String, current: PipelineSignature) throws -> [StaleFace] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT face.id, face.identity, face.source_path, face.source_sha256, face.x, face.y, face.w, face.h, signature.key
                FROM face JOIN signature ON signature.id = face.signature_id
                WHERE signature.model = ? AND signature.key <> ? ORDER BY face.id
                """, arguments: [model, current.key]).map { row in
                StaleFace(id: row[0], identity: row[1], sourcePath: row[2], sourceSHA256: row[3],
                          facialArea: FacialArea(x: row[4], y: row[5], w: row[6], h: row[7]), signatureKey: row[8])
            }
        }
    }

    @discardableResult
    public func replace(_ oldIDs: [Int64], with records: [FaceRecord], signature: PipelineSignature) throws -> [Int64] {
        try write { db in
            for id in oldIDs { try db.execute(sql: "DELETE FROM face WHERE id = ?", arguments: [id]) }
            return try insert(records, signatureID: try signatureID(signature, db), dimensions: signature.dimensions, db)
        }
    }
}

// MARK: ANN

extension SQLiteVectorStore {
    /// Where a signature's ANN index is kept: beside the store, named
    /// after the signature row, a tag of its key and creation time (so a
    /// store file made anew never meets an index of the old one) and the
    /// index kind (so changing the kind builds the new one).
    func annPath(sid: Int64, key: String, created: String) -> String {
        var hash: UInt64 = 0xcbf29ce484222325  // FNV-1a
        for byte in (key + "|" + created).utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
        let kind = annOptions.kind
        return path + "-ann/signature-\(sid)-\(String(hash, radix: 16))" + (kind == .sq4 ? ".sq4" : "-\(kind.rawValue).faiss")
    }

    /// The signature's faiss index, brought in step with the rows first:
    /// loaded from its file (or built), then the rows added since its newest
    /// id are added, and rows deleted are removed (or the index rebuilt when
    /// its kind cannot remove, or it has outgrown its lists). The file is a
    /// checkpoint, written atomically; the rows are the truth, so a file
    /// older than the rows, or from a killed run, is caught up, never trusted.
    /// nil when the signature has too few vectors for an index.
    func syncedANN(_ signature: PipelineSignature) throws -> (Int64, ANNIndex)? {
        annSync.lock()
        defer { annSync.unlock() }
        return try read { db -> (Int64, ANNIndex)? in
            guard let row = try Row.fetchOne(db, sql: "SELECT id, generation, dimensions, created_at FROM signature WHERE key = ?",
                                             arguments: [signature.key]) else { return nil }
            let sid: Int64 = row[0], generation: Int64 = row[1], dimensions: Int = row[2], created: String = row[3]
            var state = anns.withLock { $0[sid] }
            if let state, state.generation == generation { return state.index.map { (sid, $0) } }
            let file = annPath(sid: sid, key: signature.key, created: created)
            if state == nil, FileManager.default.fileExists(atPath: file),
               let loaded = try? ANNIndex.load(file, options: annOptions), loaded.dimensions == dimensions {
                state = ANNState(index: loaded, generation: -1, maxID: (try loaded.ids().max()) ?? 0, unsaved: 0)
            }
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM face WHERE signature_id = ?", arguments: [sid]) ?? 0
            var rebuild = state?.index == nil
            if var current = state, let index = current.index {
                let (ids, rows) = try fetchRows(db, sid: sid, dimensions: dimensions, after: current.maxID)
                try index.add(ids: ids, matrix: rows)
                current.maxID = max(current.maxID, ids.max() ?? 0)
                current.unsaved += ids.count
                if index.count != count {
                    let stored = Set(try Int64.fetchAll(db, sql: "SELECT id FROM face WHERE signature_id = ?", arguments: [sid]))
                    let gone = try index.ids().filter { !stored.contains($0) }
                    if try index.remove(ids: gone) { current.unsaved += gone.count } else { rebuild = true }
                    if index.count != count { rebuild = true }
                }
                // An IVF index trained for a quarter of today's rows has lists
                // four times too long: retrain.
                if annOptions.kind == .ivf && annOptions.listCount(for: count) >= 2 * index.lists { rebuild = true }
                state = current
            }
            if count < annOptions.minimumCount {
                anns.withLock { $0[sid] = ANNState(index: nil, generation: generation, maxID: 0, unsaved: 0) }
                return nil
            }
            if rebuild {
                let (ids, rows) = try fetchRows(db, sid: sid, dimensions: dimensions, after: nil)
                let index = try ANNIndex.build(dimensions: dimensions, ids: ids, matrix: rows, options: annOptions)
                state = ANNState(index: index, generation: generation, maxID: ids.max() ?? 0, unsaved: ids.count)
            }
            guard var current = state, let index = current.index else { return nil }
            current.generation = generation
            // Writing a large index costs about as much as catching up a few
            // percent of it, so the checkpoint is rewritten only then.
            if current.unsaved > max(1000, count / 50) || rebuild {
                try FileManager.default.createDirectory(atPath: path + "-ann", withIntermediateDirectories: true)
                try index.save(file)
                current.unsaved = 0
            }
            anns.withLock { $0[sid] = current }
            return (sid, index)
        }
    }

    /// The signature's rows after `after` (all when nil), in id order, as ids
    /// and one contiguous matrix; `expected` rows are reserved up front.
    func fetchRows(_ db: Database, sid: Int64, dimensions: Int, after: Int64?, expected: Int = 0) throws -> ([Int64], [Float]) {
        var ids: [Int64] = []
        ids.reserveCapacity(expected)
        var matrix: [Float] = []
        matrix.reserveCapacity(expected * dimensions)
        let cursor = try Row.fetchCursor(db, sql: """
            SELECT id, embedding FROM face WHERE signature_id = ? AND id > ? ORDER BY id
            """, arguments: [sid, after ?? Int64.min])
        while let face = try cursor.next() {
            let id: Int64 = face[0]
            try face.withUnsafeData(atIndex: 1) { data in
                guard let data, data.count == dimensions * 4 else {
                    throw FaceKitError.store("face \(id) has a vector of \(data?.count ?? 0) bytes, expected \(dimensions * 4)")
                }
                VectorCoding.append(data, to: &matrix)
            }
            ids.append(id)
        }
        return (ids, matrix)
    }

    /// The index's candidates, scored again exactly in Double.
    func annSearch(_ query: [Float], sid: Int64, ann: ANNIndex, metric: DistanceMetric, k: Int,
                   maxDistance: Double?) throws -> [StoredMatch] {
        guard k > 0 else { return [] }
        let candidates = try ann.search(query, k: k + ExactIndex.extra)
        guard !candidates.isEmpty else { return [] }
        let rows = try read { db in
            try Row.fetchAll(db, sql: """
                SELECT id, identity, source_path, source_sha256, x, y, w, h, embedding FROM face
                WHERE signature_id = ? AND id IN (\(candidates.map { String($0) }.joined(separator: ",")))
                """, arguments: [sid])
        }
        var scored: [StoredMatch] = []
        for row in rows {
            let distance = try metric.distance(query, VectorCoding.decode(row["embedding"]))
            if let maxDistance, distance > maxDistance { continue }
            scored.append(StoredMatch(id: row["id"], identity: row["identity"], distance: distance,
                                      sourcePath: row["source_path"], sourceSHA256: row["source_sha256"],
                                      facialArea: FacialArea(x: row["x"], y: row["y"], w: row["w"], h: row["h"])))
        }
        scored.sort { $0.distance != $1.distance ? $0.distance < $1.distance : $0.id < $1.id }
        return Array(scored.prefix(k))
    }
}

/// float32 vectors as little-endian bytes, whatever the host's byte order.
enum VectorCoding {
    static func encode(_ vector: [Float]) -> Data {
        #if _endian(big)
        return vector.map { $0.bitPattern.littleEndian }.withUnsafeBytes { Data($0) }
        #else
        return vector.withUnsafeBytes { Data($0) }
        #endif
    }

    static func decode(_ data: Data) -> [Float] {
        var out: [Float] = []
        append(data, to: &out)
        return out
    }

    static func append(_ data: Data, to matrix: inout [Float]) {
        data.withUnsafeBytes { raw in
            for i in 0..<(raw.count / 4) {
                let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))
                matrix.append(Float(bitPattern: bits))
            }
        }
    }
}
