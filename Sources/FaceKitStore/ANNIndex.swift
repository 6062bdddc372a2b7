import CFaceKitNative
import FaceKit
import Foundation

/// Which ANN index the embedded store builds, and how wide it searches.
///
/// The default, `sq4`, scans a 4-bit code of every vector (64 bytes a 128-d
/// vector, on both cores) and scores its best `candidates` exactly. Measured
/// with `facekit bench-store` on 1M synthetic face-like 128-d vectors: recall@10
/// 1.0 at 2.5 ms p50, built in 0.6 s, and it removes deleted rows in place.
/// faiss stays selectable, but Debian's libfaiss 1.7.3 is built without AVX2:
/// its HNSW32 reached recall 0.90 at efSearch 1024 (3.3 ms) on the same 1M
/// vectors after a 230 s build and cannot remove rows, and IVF needs most
/// lists probed for 0.98.
public struct ANNOptions: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case sq4, ivf, hnsw }
    public var kind: Kind
    /// IVF lists per sqrt(vectors); HNSW graph degree (M).
    public var lists: Double
    public var hnswM: Int
    /// Lists probed (IVF), as a fraction of the lists; efSearch (HNSW);
    /// candidates scored exactly (sq4).
    public var probeFraction: Double
    public var efSearch: Int
    public var candidates: Int
    /// Below this many vectors a scan is as fast as any index: ANN requests
    /// run exactly.
    public var minimumCount: Int

    public init(kind: Kind = .sq4, lists: Double = 4, hnswM: Int = 32, probeFraction: Double = 0.5,
                efSearch: Int = 512, candidates: Int = 100, minimumCount: Int = 10_000) {
        self.kind = kind
        self.lists = lists
        self.hnswM = hnswM
        self.probeFraction = probeFraction
        self.efSearch = efSearch
        self.candidates = candidates
        self.minimumCount = minimumCount
    }

    /// IVF lists for a count: ~lists*sqrt(n), and at least 39 training
    /// points a list (faiss' k-means minimum).
    func listCount(for count: Int) -> Int {
        max(1, min(Int(lists * Double(count).squareRoot()), count / 39))
    }

    func description(for count: Int) -> String {
        switch kind {
        case .sq4: return "SQ4"
        case .ivf: return "IVF\(listCount(for: count)),Flat"
        case .hnsw: return "IDMap2,HNSW\(hnswM)"
        }
    }

    func depth(lists: Int) -> Int {
        switch kind {
        case .sq4: return candidates
        case .ivf: return max(1, min(lists, Int((Double(lists) * probeFraction).rounded(.up))))
        case .hnsw: return efSearch
        }
    }

    /// Training rows: 64 a list for IVF (faiss wants at least 39, and caps at
    /// 256), which keeps a 1M-row build to minutes; the code ranges of sq4
    /// settle on a sample of 65,536.
    func trainingSample(for count: Int) -> Int {
        switch kind {
        case .ivf: return min(count, listCount(for: count) * 64)
        case .sq4, .hnsw: return min(count, 65_536)
        }
    }
}

/// One ANN index (faiss, or the sq4 scan) over unit vectors (inner product = cosine similarity).
/// A handle is not thread-safe; every call goes through the lock.
final class ANNIndex: @unchecked Sendable {
    private let handle: OpaquePointer
    private let lock = NSLock()
    let dimensions: Int

    private init(handle: OpaquePointer, dimensions: Int) {
        self.handle = handle
        self.dimensions = dimensions
    }

    deinit { fk_ann_free(handle) }

    static func check(_ status: fk_status, _ error: fk_error, _ what: String) throws {
        guard status != FK_OK else { return }
        let message = withUnsafeBytes(of: error.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        throw FaceKitError.store("\(what): \(message)")
    }

    /// A new index of the options' kind, trained on `matrix` and holding it.
    static func build(dimensions: Int, ids: [Int64], matrix: [Float], options: ANNOptions) throws -> ANNIndex {
        var error = fk_error()
        var raw: OpaquePointer?
        try check(fk_ann_create(Int32(dimensions), options.description(for: ids.count), &raw, &error), error, "faiss index")
        let index = ANNIndex(handle: raw!, dimensions: dimensions)
        fk_ann_set_threads(Int32(max(1, ProcessInfo.processInfo.activeProcessorCount)))
        if fk_ann_needs_training(raw) == 1 {
            let sample = options.trainingSample(for: ids.count)
            let stride = max(1, ids.count / max(1, sample))
            var training: [Float] = []
            training.reserveCapacity(sample * dimensions)
            var r = 0
            while r < ids.count && training.count < sample * dimensions {
                training.append(contentsOf: matrix[(r * dimensions)..<((r + 1) * dimensions)])
                r += stride
            }
            try check(fk_ann_train(raw, training, Int64(training.count / dimensions), &error), error, "faiss training")
        }
        try index.add(ids: ids, matrix: matrix)
        try index.setDepth(options.depth(lists: index.lists))
        return index
    }

    static func load(_ path: String, options: ANNOptions) throws -> ANNIndex {
        var error = fk_error()
        var raw: OpaquePointer?
        try check(fk_ann_load(path, &raw, &error), error, "faiss index \(path)")
        let index = ANNIndex(handle: raw!, dimensions: Int(fk_ann_dimensions(raw)))
        try index.setDepth(options.depth(lists: index.lists))
        return index
    }

    var count: Int { lock.withLock { Int(fk_ann_count(handle)) } }
    var lists: Int { lock.withLock { Int(fk_ann_lists(handle)) } }

    func add(ids: [Int64], matrix: [Float]) throws {
        guard !ids.isEmpty else { return }
        precondition(matrix.count == ids.count * dimensions)
        var error = fk_error()
        try lock.withLock { try Self.check(fk_ann_add(handle, matrix, ids, Int64(ids.count), &error), error, "faiss add") }
    }

    /// Removes ids; false when this kind of index cannot (then rebuild).
    func remove(ids: [Int64]) throws -> Bool {
        var error = fk_error()
        var removed: Int64 = 0
        return try lock.withLock {
            let status = fk_ann_remove(handle, ids, Int64(ids.count), &removed, &error)
            if status == FK_ERR_INVALID_ARGUMENT { return false }
            try Self.check(status, error, "faiss remove")
            return true
        }
    }

    func ids() throws -> [Int64] {
        try lock.withLock {
            var out = [Int64](repeating: 0, count: Int(fk_ann_count(handle)))
            var error = fk_error()
            try Self.check(fk_ann_ids(handle, &out, Int64(out.count), &error), error, "faiss ids")
            return out
        }
    }

    func setDepth(_ depth: Int) throws {
        var error = fk_error()
        try lock.withLock { try Self.check(fk_ann_set_depth(handle, Int32(depth), &error), error, "faiss depth") }
    }

    /// The k most similar stored ids, most similar first.
    func search(_ query: [Float], k: Int) throws -> [Int64] {
        var ids = [Int64](repeating: -1, count: k)
        var similarities = [Float](repeating: 0, count: k)
        var error = fk_error()
        try lock.withLock {
            try Self.check(fk_ann_search(handle, query, Int32(k), &ids, &similarities, &error), error, "faiss search")
        }
        return ids.filter { $0 >= 0 }
    }

    func save(_ path: String) throws {
        var error = fk_error()
        try lock.withLock { try Self.check(fk_ann_save(handle, path, &error), error, "faiss save \(path)") }
    }
}
