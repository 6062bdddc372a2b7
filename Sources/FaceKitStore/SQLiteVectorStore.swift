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

    /// Opens (creating if needed) the store at `path` and brings its schema
    /// up to date.
    public init(path: String) throws {
        self.path = path
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

    public func search(_ query: [Float], signature: PipelineSignature, metric: DistanceMetric,
                       limit: SearchLimit) throws -> [StoredMatch] {
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
            var ids: [Int64] = []
            ids.reserveCapacity(count)
            var matrix: [Float] = []
            matrix.reserveCapacity(count * dimensions)
            let cursor = try Row.fetchCursor(db, sql: "SELECT id, embedding FROM face WHERE signature_id = ? ORDER BY id",
                                             arguments: [sid])
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
            let index = ExactIndex(dimensions: dimensions, ids: ids, matrix: matrix, generation: generation)
            indexes.withLock { $0[sid] = index }
            return (sid, index)
        }
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
