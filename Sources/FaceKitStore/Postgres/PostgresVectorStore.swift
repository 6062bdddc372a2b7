import FaceKit
import Foundation

/// The face store in PostgreSQL with pgvector, for deployments that outgrow
/// one machine's file: the same tables and rules as the SQLite store, in the
/// schema `facekit`.
///
/// Exact search scans a matrix of the signature's vectors held in this
/// process (streamed once with binary COPY, then only the rows added since),
/// as the SQLite store does: pgvector's sequential scan takes a second or
/// more on a million rows. ANN search uses pgvector's HNSW, one partial
/// index per signature and operator class, built at the first ANN search of
/// that signature and kept in step with every insert and delete by
/// PostgreSQL itself. pgvector cannot index more than 2000 dimensions;
/// above that an ANN search runs exactly and says so.
///
/// `ann: .local` answers ANN searches from the embedded store's 4-bit scan
/// index instead, mirrored in this process from the rows the way the exact
/// matrix is: pgvector's HNSW (ef_search at most 1000) cannot reach recall
/// 0.99 on a million face-like vectors, where the scan does in ~3 ms.
public final class PostgresVectorStore: VectorStore {
    /// Where ANN searches run.
    public enum ANNEngine: String, Sendable, CaseIterable {
        case pgvector, local
    }
    public let location: String
    private let url: String
    /// Idle connections; each caller takes one for the length of a call.
    private let idle = Locked<[PQConnection]>([])
    private let matrices = Locked<[Int64: CachedMatrix]>([:])
    private let builtIndexes = Locked<Set<String>>([])
    /// Signature rows are never deleted, so their ids can be remembered.
    private let signatureIDs = Locked<[String: Int64]>([:])

    /// pgvector's limit on the dimensions of an HNSW-indexed `vector`.
    public static let maxIndexedDimensions = 2000
    /// `hnsw.ef_search`: candidates the graph walk keeps (pgvector's default
    /// is 40). Measured with `facekit bench-store` on the synthetic face-like
    /// vectors, m 16 and ef_construction 64: recall@10 0.928 at 100k (3.8 ms)
    /// and 0.672 at 1M; 1000 gave 0.998 at 100k (13.7 ms). A higher m and
    /// ef_construction are what a 1M store needs, at a longer build.
    public var efSearch: Int { efSearchSetting.withLock { $0 } }
    private let efSearchSetting: Locked<Int>

    /// Sets hnsw.ef_search for later searches: the benchmark's sweep.
    public func setEfSearch(_ value: Int) throws {
        guard (1...1000).contains(value) else { throw FaceKitError.invalidInput("ef_search must be within 1...1000") }
        efSearchSetting.withLock { $0 = value }
    }
    /// HNSW build parameters (pgvector's defaults are m 16, ef_construction 64).
    public let hnswM: Int
    public let hnswEfConstruction: Int

    struct CachedMatrix {
        var index: ExactIndex
        var deletions: Int64
        var maxID: Int64
    }

    public let annEngine: ANNEngine
    /// The local engine's index options (kind, candidates, minimum count).
    public let localANN: ANNOptions
    private let localIndexes = Locked<[Int64: LocalANN]>([:])
    /// One catch-up of a local index at a time in this process.
    private let localSync = NSLock()

    struct LocalANN {
        var index: ANNIndex
        var generation: Int64
        var deletions: Int64
        var maxID: Int64
    }

    public static func isURL(_ string: String) -> Bool {
        string.hasPrefix("postgres://") || string.hasPrefix("postgresql://")
    }

    public init(url: String, efSearch: Int = 200, hnswM: Int = 16, hnswEfConstruction: Int = 64,
                ann: ANNEngine = .pgvector, localANN: ANNOptions = ANNOptions()) throws {
        guard Self.isURL(url) else { throw FaceKitError.invalidInput("not a PostgreSQL URL (postgres://...): \(url)") }
        guard (1...1000).contains(efSearch) else { throw FaceKitError.invalidInput("ef_search must be within 1...1000") }
        self.url = url
        self.location = Self.redacted(url)
        self.efSearchSetting = Locked(efSearch)
        self.hnswM = hnswM
        self.hnswEfConstruction = hnswEfConstruction
        self.annEngine = ann
        self.localANN = localANN
        try withConnection { try StoreSchema.migrate($0) }
    }

    /// The URL without its password, for messages.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        if components.password != nil { components.password = "***" }
        return components.string ?? url
    }

    /// Bytes the database takes on the server's disk (tables, indexes, TOAST).
    public func diskUsage() throws -> Int64 {
        try withConnection { Int64(try $0.query("SELECT pg_database_size(current_database())").first?[0] ?? "") ?? 0 }
    }

    /// Creates an empty database `name` on the server `url` points at
    /// (dropping one of that name first) and returns its URL: scratch
    /// databases for tests and the benchmark.
    public static func createDatabase(named name: String, server url: String) throws -> String {
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw FaceKitError.invalidInput("database names here are letters, digits and _: \(name)")
        }
        let connection = try PQConnection(url: url, location: redacted(url))
        try connection.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        try connection.execute("CREATE DATABASE \(name)")
        return try databaseURL(url, name)
    }

    public static func dropDatabase(named name: String, server url: String) throws {
        let connection = try PQConnection(url: url, location: redacted(url))
        try connection.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    static func databaseURL(_ url: String, _ name: String) throws -> String {
        guard var components = URLComponents(string: url) else { throw FaceKitError.invalidInput("bad URL \(redacted(url))") }
        components.path = "/" + name
        return components.string ?? url
    }

    // MARK: connections

    func withConnection<T>(_ body: (PQConnection) throws -> T) throws -> T {
        let connection = try idle.withLock { $0.popLast() } ?? open()
        defer {
            // A connection left mid-transaction or broken is dropped, never reused.
            if connection.isHealthy { idle.withLock { if $0.count < 8 { $0.append(connection) } } }
        }
        return try body(connection)
    }

    private func open() throws -> PQConnection {
        let connection = try PQConnection(url: url, location: location)
        try connection.execute("SET search_path TO facekit, public")
        return connection
    }

    /// Runs `body` in one transaction, rolled back on any error.
    func transaction<T>(_ isolation: String = "READ COMMITTED", _ body: (PQConnection) throws -> T) throws -> T {
        try withConnection { connection in
            try connection.execute("BEGIN ISOLATION LEVEL \(isolation)")
            do {
                let result = try body(connection)
                try connection.execute("COMMIT")
                return result
            } catch {
                try? connection.execute("ROLLBACK")
                throw error
            }
        }
    }

    // MARK: writing

    func signatureID(_ signature: PipelineSignature, _ connection: PQConnection) throws -> Int64 {
        try connection.query("""
            INSERT INTO signature (key, model, model_sha256, dimensions, detector, align, alignment, expand_percentage,
                                   normalization, facekit_version)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (key) DO NOTHING
            """, [signature.key, signature.model, signature.modelSHA256, String(signature.dimensions), signature.detector,
                  signature.align ? "true" : "false", signature.alignment, String(signature.expandPercentage),
                  signature.normalization, signature.version])
        // Not through the remembered ids: this transaction may yet roll back.
        guard let id = try connection.query("SELECT id FROM signature WHERE key = $1", [signature.key])
            .first.flatMap({ $0[0] }).flatMap({ Int64($0) }) else {
            throw FaceKitError.store("\(location): signature row vanished after insert")
        }
        return id
    }

    /// The id of a committed signature row (callers outside a write transaction).
    func existingSignatureID(_ signature: PipelineSignature, _ connection: PQConnection) throws -> Int64? {
        if let known = signatureIDs.withLock({ $0[signature.key] }) { return known }
        let id = try connection.query("SELECT id FROM signature WHERE key = $1", [signature.key]).first.flatMap { $0[0] }.flatMap { Int64($0) }
        if let id { signatureIDs.withLock { $0[signature.key] = id } }
        return id
    }

    /// Inserts with binary COPY in the caller's transaction; ids are drawn
    /// from the table's sequence first, so they come back in order.
    func insert(_ faces: [FaceRecord], signatureID: Int64, dimensions: Int, _ connection: PQConnection) throws -> [Int64] {
        guard !faces.isEmpty else { return [] }
        for face in faces {
            guard face.embedding.count == dimensions else {
                throw FaceKitError.invalidInput("embedding of \(face.identity) has \(face.embedding.count) dimensions, the pipeline \(dimensions)")
            }
            guard face.embedding.allSatisfy(\.isFinite) else {
                throw FaceKitError.invalidInput("embedding of \(face.identity) holds a NaN or infinite value")
            }
        }
        let ids = try connection.query("SELECT nextval('face_id_seq') FROM generate_series(1, $1)", [String(faces.count)])
            .rows.map { Int64($0[0] ?? "") ?? 0 }.sorted()
        try connection.copyIn("""
            COPY face (id, signature_id, identity, embedding, source_path, source_sha256, x, y, w, h, face_confidence)
            FROM STDIN (FORMAT binary)
            """) { copy in
            for (face, id) in zip(faces, ids) {
                let a = face.facialArea
                copy.beginRow(fields: 11)
                copy.int64(id)
                copy.int64(signatureID)
                copy.text(face.identity)
                copy.vector(face.embedding)
                copy.text(face.sourcePath)
                copy.text(face.sourceSHA256)
                copy.int32(Int32(clamping: a.x))
                copy.int32(Int32(clamping: a.y))
                copy.int32(Int32(clamping: a.w))
                copy.int32(Int32(clamping: a.h))
                copy.double(face.faceConfidence)
            }
        }
        return ids
    }

    @discardableResult
    public func add(_ faces: [FaceRecord], signature: PipelineSignature) throws -> [Int64] {
        guard !faces.isEmpty else { return [] }
        return try transaction { connection in
            try insert(faces, signatureID: try signatureID(signature, connection), dimensions: signature.dimensions, connection)
        }
    }

    @discardableResult
    public func delete(identity: String) throws -> Int {
        // With the ledger rows of its images, as the SQLite store does.
        try transaction { connection in
            try connection.query("""
                DELETE FROM indexed_file i USING face f
                WHERE f.identity = $1 AND f.signature_id = i.signature_id AND f.source_path = i.path
                """, [identity])
            return try connection.query("DELETE FROM face WHERE identity = $1", [identity]).affected
        }
    }

    @discardableResult
    public func delete(id: Int64) throws -> Bool {
        try withConnection { try $0.query("DELETE FROM face WHERE id = $1", [String(id)]).affected > 0 }
    }

    // MARK: reading

    public func count(signature: PipelineSignature) throws -> Int {
        try withConnection { connection in
            try connection.query("SELECT face_count FROM signature WHERE key = $1", [signature.key])
                .first.flatMap { $0[0] }.flatMap { Int($0) } ?? 0
        }
    }

    public func identities(signature: PipelineSignature?) throws -> [IdentitySummary] {
        try withConnection { connection in
            var sql = """
                SELECT face.identity, count(*), string_agg(DISTINCT signature.model, ',')
                FROM face JOIN signature ON signature.id = face.signature_id
                """
            var parameters: [String?] = []
            if let signature {
                sql += " WHERE signature.key = $1"
                parameters = [signature.key]
            }
            // Byte order, as SQLite sorts, whatever the database's collation.
            sql += " GROUP BY face.identity ORDER BY face.identity COLLATE \"C\""
            return try connection.query(sql, parameters).rows.map { row in
                IdentitySummary(identity: row[0] ?? "", faces: Int(row[1] ?? "") ?? 0,
                                models: (row[2] ?? "").split(separator: ",").map(String.init).sorted())
            }
        }
    }

    public func searchPlan(_ mode: SearchMode, signature: PipelineSignature, metric: DistanceMetric,
                           limit: SearchLimit) -> (mode: SearchMode, note: String?) {
        guard mode == .ann else { return (.exact, nil) }
        if annEngine == .local {
            if metric == .euclidean {
                return (.exact, "the local index orders by cosine, which does not order euclidean distances: searched exactly")
            }
            if limit.top == nil {
                return (.exact, "an ANN index answers top-k queries, not every face within a distance: searched exactly")
            }
            return (.ann, nil)
        }
        if signature.dimensions > Self.maxIndexedDimensions {
            return (.exact, "pgvector indexes at most \(Self.maxIndexedDimensions) dimensions and \(signature.model) has \(signature.dimensions): searched exactly")
        }
        if limit.top == nil {
            return (.exact, "an HNSW index answers top-k queries, not every face within a distance: searched exactly")
        }
        return (.ann, nil)
    }

    public func search(_ query: [Float], signature: PipelineSignature, metric: DistanceMetric,
                       limit: SearchLimit, mode: SearchMode) throws -> [StoredMatch] {
        guard query.count == signature.dimensions else {
            throw FaceKitError.invalidInput("query has \(query.count) dimensions, the store's pipeline has \(signature.dimensions)")
        }
        guard query.allSatisfy(\.isFinite) else { throw FaceKitError.invalidInput("query holds a NaN or infinite value") }
        if searchPlan(mode, signature: signature, metric: metric, limit: limit).mode == .ann, let k = limit.top {
            if annEngine == .pgvector {
                return try annSearch(query, signature: signature, metric: metric, k: k, maxDistance: limit.maxDistance)
            }
            if let (_, index) = try localIndex(signature) {
                return try localSearch(query, index: index, metric: metric, k: k, maxDistance: limit.maxDistance)
            }
        }
        guard let (_, index) = try currentMatrix(signature) else { return [] }
        let hits = try index.search(query, metric: metric, limit: limit)
        guard !hits.isEmpty else { return [] }
        let rows = try withConnection { connection in
            try connection.query("""
                SELECT id, identity, source_path, source_sha256, x, y, w, h FROM face WHERE id = ANY($1::bigint[])
                """, ["{" + hits.map { String(index.ids[$0.row]) }.joined(separator: ",") + "}"]).rows
        }
        let byID = Dictionary(rows.map { (Int64($0[0] ?? "") ?? -1, $0) }, uniquingKeysWith: { a, _ in a })
        // A face deleted by another process since the matrix was loaded is left out.
        return hits.compactMap { hit in
            let id = index.ids[hit.row]
            guard let row = byID[id] else { return nil }
            return Self.match(id: id, row: row, distance: hit.distance)
        }
    }

    static func match(id: Int64, row: [String?], distance: Double) -> StoredMatch {
        StoredMatch(id: id, identity: row[1] ?? "", distance: distance, sourcePath: row[2], sourceSHA256: row[3],
                    facialArea: FacialArea(x: Int(row[4] ?? "") ?? 0, y: Int(row[5] ?? "") ?? 0,
                                           w: Int(row[6] ?? "") ?? 0, h: Int(row[7] ?? "") ?? 0))
    }

    // MARK: ledger

    public func ledger(signature: PipelineSignature, under prefix: String) throws -> [String: LedgerEntry] {
        try withConnection { connection in
            guard let sid = try existingSignatureID(signature, connection) else { return [:] }
            var known: [String: LedgerEntry] = [:]
            for row in try connection.query("""
                SELECT path, size, mtime, sha256 FROM indexed_file WHERE signature_id = $1 AND starts_with(path, $2)
                """, [String(sid), prefix]).rows {
                let entry = LedgerEntry(path: row[0] ?? "", size: Int64(row[1] ?? "") ?? 0,
                                        mtime: Double(row[2] ?? "") ?? 0, sha256: row[3] ?? "")
                known[entry.path] = entry
            }
            return known
        }
    }

    public func commit(_ updates: [LedgerUpdate], signature: PipelineSignature) throws {
        guard !updates.isEmpty else { return }
        try transaction { connection in
            let sid = try signatureID(signature, connection)
            for update in updates {
                let e = update.entry
                // The file's ledger row first: its row lock makes a second
                // process committing the same file wait here until this
                // transaction ends, so that its DELETE below then sees (and
                // replaces) these faces. Deleting first, two racing runs each
                // deleted nothing and both inserted (a file with its faces twice).
                // mtime travels as text with every digit, so it compares equal on the next run.
                try connection.query("""
                    INSERT INTO indexed_file (signature_id, path, size, mtime, sha256, status, message, faces)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                    ON CONFLICT (signature_id, path) DO UPDATE SET size = EXCLUDED.size, mtime = EXCLUDED.mtime,
                      sha256 = EXCLUDED.sha256, status = EXCLUDED.status, message = EXCLUDED.message, faces = EXCLUDED.faces
                    """, [String(sid), e.path, String(e.size), "\(e.mtime)", e.sha256, update.status.rawValue, update.message,
                          String(update.records.count)])
                try connection.query("DELETE FROM face WHERE signature_id = $1 AND source_path = $2", [String(sid), e.path])
                _ = try insert(update.records, signatureID: sid, dimensions: signature.dimensions, connection)
            }
        }
    }

    public func reconcile(removed: [String], touched: [LedgerEntry], signature: PipelineSignature) throws {
        guard !removed.isEmpty || !touched.isEmpty else { return }
        try transaction { connection in
            let sid = String(try signatureID(signature, connection))
            for path in removed {
                try connection.query("DELETE FROM face WHERE signature_id = $1 AND source_path = $2", [sid, path])
                try connection.query("DELETE FROM indexed_file WHERE signature_id = $1 AND path = $2", [sid, path])
            }
            for e in touched {
                try connection.query("UPDATE indexed_file SET size = $1, mtime = $2 WHERE signature_id = $3 AND path = $4",
                                     [String(e.size), "\(e.mtime)", sid, e.path])
            }
        }
    }

    // MARK: reindex

    public func staleFaces(model: String, current: PipelineSignature) throws -> [StaleFace] {
        try withConnection { connection in
            try connection.query("""
                SELECT face.id, face.identity, face.source_path, face.source_sha256, face.x, face.y, face.w, face.h, signature.key
                FROM face JOIN signature ON signature.id = face.signature_id
                WHERE signature.model = $1 AND signature.key <> $2 ORDER BY face.id
                """, [model, current.key]).rows.map { row in
                StaleFace(id: Int64(row[0] ?? "") ?? 0, identity: row[1] ?? "", sourcePath: row[2], sourceSHA256: row[3],
                          facialArea: FacialArea(x: Int(row[4] ?? "") ?? 0, y: Int(row[5] ?? "") ?? 0,
                                                 w: Int(row[6] ?? "") ?? 0, h: Int(row[7] ?? "") ?? 0),
                          signatureKey: row[8] ?? "")
            }
        }
    }

    @discardableResult
    public func replace(_ oldIDs: [Int64], with records: [FaceRecord], signature: PipelineSignature) throws -> [Int64] {
        try transaction { connection in
            if !oldIDs.isEmpty {
                try connection.query("DELETE FROM face WHERE id = ANY($1::bigint[])",
                                     ["{" + oldIDs.map(String.init).joined(separator: ",") + "}"])
            }
            return try insert(records, signatureID: try signatureID(signature, connection), dimensions: signature.dimensions, connection)
        }
    }

    // MARK: exact

    /// The signature's vectors as a matrix, current as of one snapshot: the
    /// cached one when nothing changed, the cached one plus the rows added
    /// since when nothing was deleted and the counts agree, else all again.
    func currentMatrix(_ signature: PipelineSignature) throws -> (Int64, ExactIndex)? {
        try transaction("REPEATABLE READ READ ONLY") { connection -> (Int64, ExactIndex)? in
            guard let row = try connection.query("""
                SELECT id, dimensions, generation, deletions, face_count FROM signature WHERE key = $1
                """, [signature.key]).first else { return nil }
            let sid = Int64(row[0] ?? "") ?? 0, dimensions = Int(row[1] ?? "") ?? 0
            let generation = Int64(row[2] ?? "") ?? 0, deletions = Int64(row[3] ?? "") ?? 0
            let faceCount = Int(row[4] ?? "") ?? 0
            let cached = matrices.withLock { $0[sid] }
            if let cached, cached.index.generation == generation { return (sid, cached.index) }
            if let cached, cached.deletions == deletions {
                let (ids, rows) = try fetch(sid, dimensions: dimensions, after: cached.maxID, connection)
                let grown = cached.index.appending(ids: ids, matrix: rows, generation: generation)
                // Rows committed out of id order would be missed by `id > maxID`;
                // the count catches that, and the full load below repairs it.
                if grown.count == faceCount {
                    let entry = CachedMatrix(index: grown, deletions: deletions, maxID: max(cached.maxID, ids.max() ?? 0))
                    matrices.withLock { $0[sid] = entry }
                    return (sid, grown)
                }
            }
            let (ids, rows) = try fetch(sid, dimensions: dimensions, after: nil, connection)
            let index = ExactIndex(dimensions: dimensions, ids: ids, matrix: rows, generation: generation)
            matrices.withLock { $0[sid] = CachedMatrix(index: index, deletions: deletions, maxID: ids.max() ?? 0) }
            return (sid, index)
        }
    }

    private func fetch(_ sid: Int64, dimensions: Int, after: Int64?, _ connection: PQConnection) throws -> ([Int64], [Float]) {
        var ids: [Int64] = []
        var matrix: [Float] = []
        let filter = after.map { " AND id > \($0)" } ?? ""
        try connection.copyOut("""
            COPY (SELECT id, embedding FROM face WHERE signature_id = \(sid)\(filter) ORDER BY id) TO STDOUT (FORMAT binary)
            """) { row in
            ids.append(try row.int64(0))
            try row.appendVector(1, dimensions: dimensions, to: &matrix)
        }
        return (ids, matrix)
    }

    // MARK: ANN, local

    /// The signature's local index, current as of one snapshot: kept when
    /// nothing changed; else deleted rows are removed in place and the rows
    /// added since its newest id appended; rebuilt when the counts still
    /// disagree (rows committed out of id order). nil below the minimum
    /// count, where the exact matrix answers.
    func localIndex(_ signature: PipelineSignature) throws -> (Int64, ANNIndex)? {
        localSync.lock()
        defer { localSync.unlock() }
        return try transaction("REPEATABLE READ READ ONLY") { connection -> (Int64, ANNIndex)? in
            guard let row = try connection.query("""
                SELECT id, dimensions, generation, deletions, face_count FROM signature WHERE key = $1
                """, [signature.key]).first else { return nil }
            let sid = Int64(row[0] ?? "") ?? 0, dimensions = Int(row[1] ?? "") ?? 0
            let generation = Int64(row[2] ?? "") ?? 0, deletions = Int64(row[3] ?? "") ?? 0
            let faceCount = Int(row[4] ?? "") ?? 0
            guard faceCount >= localANN.minimumCount else { return nil }
            if var cached = localIndexes.withLock({ $0[sid] }) {
                if cached.generation == generation { return (sid, cached.index) }
                var usable = true
                if cached.deletions != deletions {
                    var stored = Set<Int64>()
                    try connection.copyOut("COPY (SELECT id FROM face WHERE signature_id = \(sid)) TO STDOUT (FORMAT binary)") { row in
                        stored.insert(try row.int64(0))
                    }
                    usable = try cached.index.remove(ids: try cached.index.ids().filter { !stored.contains($0) })
                }
                if usable {
                    let (ids, rows) = try fetch(sid, dimensions: dimensions, after: cached.maxID, connection)
                    try cached.index.add(ids: ids, matrix: rows)
                    cached.maxID = max(cached.maxID, ids.max() ?? 0)
                    if cached.index.count == faceCount {
                        cached.generation = generation
                        cached.deletions = deletions
                        localIndexes.withLock { $0[sid] = cached }
                        return (sid, cached.index)
                    }
                }
            }
            let built = try buildLocal(sid, dimensions, connection)
            localIndexes.withLock {
                $0[sid] = LocalANN(index: built.index, generation: generation, deletions: deletions, maxID: built.maxID)
            }
            return (sid, built.index)
        }
    }

    private func buildLocal(_ sid: Int64, _ dimensions: Int, _ connection: PQConnection) throws -> (index: ANNIndex, maxID: Int64) {
        let (ids, rows) = try fetch(sid, dimensions: dimensions, after: nil, connection)
        return (try ANNIndex.build(dimensions: dimensions, ids: ids, matrix: rows, options: localANN), ids.max() ?? 0)
    }

    /// The local index's candidates, fetched and scored again exactly in
    /// Double, as the pgvector path does.
    func localSearch(_ query: [Float], index: ANNIndex, metric: DistanceMetric, k: Int,
                     maxDistance: Double?) throws -> [StoredMatch] {
        guard k > 0 else { return [] }
        let candidates = try index.search(query, k: k + ExactIndex.extra)
        guard !candidates.isEmpty else { return [] }
        let rows = try withConnection { connection in
            try connection.query("""
                SELECT id, identity, source_path, source_sha256, x, y, w, h, embedding::text FROM face WHERE id = ANY($1::bigint[])
                """, ["{" + candidates.map(String.init).joined(separator: ",") + "}"]).rows
        }
        return try rescored(rows, query: query, dimensions: query.count, metric: metric, k: k, maxDistance: maxDistance)
    }

    /// Rows of (id, identity, source_path, source_sha256, x, y, w, h,
    /// embedding text) scored exactly, nearest first, cut at k.
    func rescored(_ rows: [[String?]], query: [Float], dimensions: Int, metric: DistanceMetric, k: Int,
                  maxDistance: Double?) throws -> [StoredMatch] {
        var scored: [StoredMatch] = []
        scored.reserveCapacity(rows.count)
        for row in rows {
            let vector = try Self.parseVector(row[8] ?? "", dimensions: dimensions)
            let distance = try metric.distance(query, vector)
            if let maxDistance, distance > maxDistance { continue }
            scored.append(Self.match(id: Int64(row[0] ?? "") ?? 0, row: row, distance: distance))
        }
        scored.sort { $0.distance != $1.distance ? $0.distance < $1.distance : $0.id < $1.id }
        return Array(scored.prefix(k))
    }

    // MARK: ANN, pgvector

    /// The operator class and operator an HNSW index needs for a metric:
    /// cosine order serves cosine, euclidean_l2 and angular alike (each is a
    /// monotone function of the cosine); euclidean needs L2 order.
    static func operatorClass(_ metric: DistanceMetric) -> (suffix: String, opclass: String, op: String) {
        metric == .euclidean ? ("l2", "vector_l2_ops", "<->") : ("cos", "vector_cosine_ops", "<=>")
    }

    func indexName(_ sid: Int64, _ metric: DistanceMetric) -> String {
        "face_hnsw_\(sid)_\(Self.operatorClass(metric).suffix)"
    }

    /// Builds the signature's HNSW index if it does not exist yet. Returns
    /// whether this call built it. Two processes asking at once take turns
    /// on an advisory lock, and the second finds it built.
    @discardableResult
    public func buildANNIndex(signature: PipelineSignature, metric: DistanceMetric = .cosine) throws -> Bool {
        guard signature.dimensions <= Self.maxIndexedDimensions else { return false }
        guard let sid = try withConnection({ try existingSignatureID(signature, $0) }) else { return false }
        let name = indexName(sid, metric)
        if builtIndexes.withLock({ $0.contains(name) }) { return false }
        let (_, opclass, _) = Self.operatorClass(metric)
        let built = try transaction { connection -> Bool in
            try connection.query("SELECT pg_advisory_xact_lock(hashtext($1))", ["facekit." + name])
            let exists = try connection.query("SELECT to_regclass($1) IS NOT NULL", ["facekit." + name]).first?[0] == "t"
            if exists { return false }
            try connection.execute("""
                SET LOCAL maintenance_work_mem = '1GB';
                CREATE INDEX \(name) ON face USING hnsw ((embedding::vector(\(signature.dimensions))) \(opclass))
                  WITH (m = \(hnswM), ef_construction = \(hnswEfConstruction)) WHERE signature_id = \(sid)
                """)
            return true
        }
        builtIndexes.withLock { _ = $0.insert(name) }
        return built
    }

    func annSearch(_ query: [Float], signature: PipelineSignature, metric: DistanceMetric, k: Int,
                   maxDistance: Double?) throws -> [StoredMatch] {
        guard k > 0 else { return [] }
        try buildANNIndex(signature: signature, metric: metric)
        // The signature id goes into the query as a literal: the planner
        // matches a partial index's predicate only against constants.
        guard let sid = try withConnection({ try existingSignatureID(signature, $0) }) else { return [] }
        let dims = signature.dimensions
        let (_, _, op) = Self.operatorClass(metric)
        let literal = "[" + query.map { "\($0)" }.joined(separator: ",") + "]"
        // Extra candidates, scored again in Double, so float ties at the
        // k-th place are settled as the exact search settles them.
        let candidates = k + ExactIndex.extra
        let rows = try transaction { connection -> [[String?]] in
            try connection.execute("SET LOCAL hnsw.ef_search = \(max(efSearch, candidates))")
            return try connection.query("""
                SELECT id, identity, source_path, source_sha256, x, y, w, h, embedding::text FROM face
                WHERE signature_id = \(sid)
                ORDER BY embedding::vector(\(dims)) \(op) $1::vector(\(dims)) LIMIT \(candidates)
                """, [literal]).rows
        }
        return try rescored(rows, query: query, dimensions: dims, metric: metric, k: k, maxDistance: maxDistance)
    }

    /// pgvector's text form "[1,2.5,...]"; its floats are printed shortest
    /// round-trip, so strtof gives back the stored bits.
    static func parseVector(_ text: String, dimensions: Int) throws -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(dimensions)
        text.withCString { start in
            var p = start
            while p.pointee != 0 {
                if p.pointee == 0x5B || p.pointee == 0x2C || p.pointee == 0x20 { p += 1; continue }  // [ , space
                if p.pointee == 0x5D { break }  // ]
                var next: UnsafeMutablePointer<CChar>?
                let value = strtof(p, &next)
                guard let next, UnsafePointer(next) > p else { break }
                out.append(value)
                p = UnsafePointer(next)
            }
        }
        guard out.count == dimensions else {
            throw FaceKitError.store("stored vector has \(out.count) dimensions, expected \(dimensions)")
        }
        return out
    }
}
