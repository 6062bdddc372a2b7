import CLibPQ
import FaceKit
import Foundation

/// libpq, opened on first use (shim.h says why it is not linked). Debian's
/// libpq5 package; a missing library is the store's error, not a crash.
enum LibPQ {
    static let api: Result<fk_pq, FaceKitError> = {
        let names = ["libpq.so.5", "libpq.so", "libpq.5.dylib", "libpq.dylib"]
        guard let handle = names.lazy.compactMap({ dlopen($0, RTLD_NOW | RTLD_LOCAL) }).first else {
            let reason = dlerror().map { String(cString: $0) } ?? "not found"
            return .failure(.store("cannot load libpq, PostgreSQL's client library (Debian: apt-get install libpq5): \(reason)"))
        }
        var missing: UnsafePointer<CChar>?
        let api = fk_pq_bind(handle, &missing)
        if let missing { return .failure(.store("libpq lacks \(String(cString: missing)): too old a version")) }
        return .success(api)
    }()
}

/// One libpq connection. Not thread-safe (libpq's rule): the store hands each
/// one to a single caller at a time through its pool.
final class PQConnection: @unchecked Sendable {
    private let connection: OpaquePointer
    private let pq: fk_pq
    /// The URL with any password removed, for messages.
    let location: String

    init(url: String, location: String) throws {
        self.location = location
        let pq = try LibPQ.api.get()
        self.pq = pq
        guard let connection = pq.connectdb(url) else {
            throw FaceKitError.store("\(location): libpq could not allocate a connection")
        }
        // Checked before the handle becomes a property: once every property
        // is set, a throwing init runs deinit, which would free it twice.
        guard pq.status(connection) == CONNECTION_OK else {
            let message = Self.message(connection, pq)
            pq.finish(connection)
            throw FaceKitError.store("cannot connect to \(location): \(message)")
        }
        self.connection = connection
        // Server notices ("relation already exists, skipping") are not errors
        // and must not reach stderr.
        _ = pq.setNoticeProcessor(connection, { _, _ in }, nil)
    }

    deinit { pq.finish(connection) }

    var isHealthy: Bool { pq.status(connection) == CONNECTION_OK && pq.transactionStatus(connection) == PQTRANS_IDLE }

    static func message(_ connection: OpaquePointer, _ pq: fk_pq) -> String {
        String(cString: pq.errorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs one statement with text parameters; rows come back as text.
    @discardableResult
    func query(_ sql: String, _ parameters: [String?] = []) throws -> PQRows {
        let result: OpaquePointer? = withCStrings(parameters) { pointers in
            pq.execParams(connection, sql, Int32(parameters.count), nil, pointers, nil, nil, 0)
        }
        return try PQRows(checking: result, connection: connection, pq: pq, location: location, sql: sql)
    }

    /// Several statements, no parameters (migrations, SET, BEGIN).
    func execute(_ sql: String) throws {
        _ = try PQRows(checking: pq.exec(connection, sql), connection: connection, pq: pq, location: location, sql: sql)
    }

    /// `COPY ... FROM STDIN (FORMAT binary)` with the rows `writer` encodes.
    func copyIn(_ sql: String, _ writer: (inout PGBinaryCopyWriter) throws -> Void) throws {
        let start = pq.exec(connection, sql)
        defer { pq.clear(start) }
        guard pq.resultStatus(start) == PGRES_COPY_IN else {
            throw FaceKitError.store("\(location): \(Self.message(connection, pq))")
        }
        var copy = PGBinaryCopyWriter()
        var failure: Error?
        do {
            try writer(&copy)
            copy.finish()
        } catch {
            failure = error
        }
        if failure == nil {
            let sent = copy.buffer.withUnsafeBytes { raw -> Int32 in
                var offset = 0
                // libpq takes an Int32 length; send in bounded pieces.
                while offset < raw.count {
                    let n = min(1 << 24, raw.count - offset)
                    let ok = pq.putCopyData(connection, raw.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self), Int32(n))
                    if ok != 1 { return ok }
                    offset += n
                }
                return 1
            }
            if sent != 1 { failure = FaceKitError.store("\(location): \(Self.message(connection, pq))") }
        }
        // Ending with an error message aborts the COPY server-side, so a
        // failed encoding never commits a partial batch.
        let ended = failure == nil ? pq.putCopyEnd(connection, nil) : pq.putCopyEnd(connection, "aborted by FaceKit")
        var serverError: String?
        while let result = pq.getResult(connection) {
            if pq.resultStatus(result) != PGRES_COMMAND_OK { serverError = String(cString: pq.resultErrorMessage(result)) }
            pq.clear(result)
        }
        if let failure { throw failure }
        if ended != 1 { throw FaceKitError.store("\(location): \(Self.message(connection, pq))") }
        if let serverError { throw FaceKitError.store("\(location): \(serverError.trimmingCharacters(in: .whitespacesAndNewlines))") }
    }

    /// `COPY (...) TO STDOUT (FORMAT binary)`, handing each row's fields to
    /// `row` without building a result set (1M vectors stream in bounded memory).
    func copyOut(_ sql: String, row: (PGBinaryRow) throws -> Void) throws {
        let start = pq.exec(connection, sql)
        defer { pq.clear(start) }
        guard pq.resultStatus(start) == PGRES_COPY_OUT else {
            throw FaceKitError.store("\(location): \(Self.message(connection, pq))")
        }
        var headerSeen = false
        var failure: Error?
        while true {
            var buffer: UnsafeMutablePointer<CChar>?
            let n = pq.getCopyData(connection, &buffer, 0)
            if n == -1 { break }
            if n == -2 { failure = failure ?? FaceKitError.store("\(location): \(Self.message(connection, pq))"); break }
            guard let buffer else { continue }
            defer { pq.freemem(buffer) }
            guard failure == nil else { continue }
            do {
                var bytes = UnsafeRawBufferPointer(start: buffer, count: Int(n))
                if !headerSeen {
                    // Signature (11), flags (4), header extension length (4) + extension.
                    guard bytes.count >= 19 else { throw FaceKitError.store("\(location): short COPY header") }
                    let extensionLength = Int(PGBinary.int32(bytes, 15))
                    bytes = UnsafeRawBufferPointer(rebasing: bytes[(19 + extensionLength)...])
                    headerSeen = true
                }
                if bytes.count >= 2 && PGBinary.int16(bytes, 0) == -1 { continue }  // trailer
                if bytes.isEmpty { continue }
                try row(try PGBinaryRow(bytes))
            } catch {
                failure = error
            }
        }
        var serverError: String?
        while let result = pq.getResult(connection) {
            if pq.resultStatus(result) != PGRES_COMMAND_OK { serverError = String(cString: pq.resultErrorMessage(result)) }
            pq.clear(result)
        }
        if let failure { throw failure }
        if let serverError { throw FaceKitError.store("\(location): \(serverError.trimmingCharacters(in: .whitespacesAndNewlines))") }
    }

    private func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        var owned: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } }
        defer { for p in owned { free(p) } }
        return owned.withUnsafeMutableBufferPointer { buffer in
            body(buffer.map { $0.map { UnsafePointer($0) } })
        }
    }
}

/// A text-format result, copied out of libpq and freed at once.
struct PQRows {
    let rows: [[String?]]
    let affected: Int

    init(checking result: OpaquePointer?, connection: OpaquePointer, pq: fk_pq, location: String, sql: String) throws {
        guard let result else { throw FaceKitError.store("\(location): \(PQConnection.message(connection, pq))") }
        defer { pq.clear(result) }
        let status = pq.resultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            let message = String(cString: pq.resultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
            throw FaceKitError.store("\(location): \(message)")
        }
        let count = Int(pq.ntuples(result)), fields = Int(pq.nfields(result))
        var rows: [[String?]] = []
        rows.reserveCapacity(count)
        for r in 0..<count {
            rows.append((0..<fields).map { f in
                pq.getisnull(result, Int32(r), Int32(f)) == 1 ? nil : String(cString: pq.getvalue(result, Int32(r), Int32(f)))
            })
        }
        self.rows = rows
        self.affected = Int(String(cString: pq.cmdTuples(result))) ?? 0
    }

    var first: [String?]? { rows.first }
}

/// Big-endian readers for PostgreSQL's binary formats.
enum PGBinary {
    static func int16(_ b: UnsafeRawBufferPointer, _ at: Int) -> Int16 {
        Int16(bigEndian: b.loadUnaligned(fromByteOffset: at, as: Int16.self))
    }
    static func int32(_ b: UnsafeRawBufferPointer, _ at: Int) -> Int32 {
        Int32(bigEndian: b.loadUnaligned(fromByteOffset: at, as: Int32.self))
    }
    static func int64(_ b: UnsafeRawBufferPointer, _ at: Int) -> Int64 {
        Int64(bigEndian: b.loadUnaligned(fromByteOffset: at, as: Int64.self))
    }
}

/// One row of a binary COPY: its fields as byte ranges (nil for NULL).
struct PGBinaryRow {
    let fields: [UnsafeRawBufferPointer?]

    init(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count >= 2 else { throw FaceKitError.store("short COPY row") }
        let count = Int(PGBinary.int16(bytes, 0))
        var offset = 2
        var fields: [UnsafeRawBufferPointer?] = []
        fields.reserveCapacity(count)
        for _ in 0..<count {
            guard offset + 4 <= bytes.count else { throw FaceKitError.store("truncated COPY row") }
            let length = Int(PGBinary.int32(bytes, offset))
            offset += 4
            if length < 0 { fields.append(nil); continue }
            guard offset + length <= bytes.count else { throw FaceKitError.store("truncated COPY field") }
            fields.append(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)]))
            offset += length
        }
        self.fields = fields
    }

    func int64(_ i: Int) throws -> Int64 {
        guard let f = fields[i], f.count == 8 else { throw FaceKitError.store("COPY field \(i) is not an int8") }
        return PGBinary.int64(f, 0)
    }

    /// pgvector's binary form: int16 dimensions, int16 unused, float4 each.
    func appendVector(_ i: Int, dimensions: Int, to matrix: inout [Float]) throws {
        guard let f = fields[i], f.count == 4 + 4 * dimensions, Int(PGBinary.int16(f, 0)) == dimensions else {
            throw FaceKitError.store("stored vector \(i) does not have \(dimensions) dimensions")
        }
        for d in 0..<dimensions {
            matrix.append(Float(bitPattern: UInt32(bigEndian: f.loadUnaligned(fromByteOffset: 4 + 4 * d, as: UInt32.self))))
        }
    }
}

/// Encodes rows for `COPY ... (FORMAT binary)`.
struct PGBinaryCopyWriter {
    /// Signature "PGCOPY\n\xFF\r\n\0", then flags and header extension length (both 0).
    private(set) var buffer: [UInt8] = [0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]

    mutating func beginRow(fields: Int) { append(Int16(fields)) }

    mutating func int64(_ v: Int64) { append(Int32(8)); append(v) }
    mutating func int32(_ v: Int32) { append(Int32(4)); append(v) }
    mutating func double(_ v: Double) { append(Int32(8)); append(v.bitPattern) }

    mutating func text(_ s: String?) {
        guard let s else { append(Int32(-1)); return }
        let bytes = Array(s.utf8)
        append(Int32(bytes.count))
        buffer += bytes
    }

    mutating func vector(_ v: [Float]) {
        append(Int32(4 + 4 * v.count))
        append(Int16(v.count))
        append(Int16(0))
        for x in v { append(x.bitPattern) }
    }

    mutating func finish() { append(Int16(-1)) }

    private mutating func append<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.bigEndian) { buffer += $0 }
    }
}
