import CFaceKitNative
import FaceKit
import Foundation

/// Which faiss index the embedded store builds, and how wide it searches.
///
/// HNSW32 with efSearch 512 is the default, picked on `facekit bench-store`
/// (100k synthetic 128-d face-like vectors, idle 2-core machine): it reached
/// recall@10 0.9945 at 4.3 ms p50 after a 34 s build, where IVF-Flat needed
/// every list probed (an exact scan, 5.9 ms) for 0.99+, and at 1M IVF with
/// half its lists probed gave 0.982 in 78 ms. IVF stays selectable: it
/// builds about 5x faster and removes deleted rows in place, where faiss'
/// HNSW cannot, so a delete makes the next ANN search rebuild the index.
public struct ANNOptions: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case ivf, hnsw }
    public var kind: Kind
    /// IVF lists per sqrt(vectors); HNSW graph degree (M).
    public var lists: Double
    public var hnswM: Int
    /// Lists probed (IVF), as a fraction of the lists; efSearch (HNSW).
    public var probeFraction: Double
    public var efSearch: Int
    /// Below this many vectors a scan is as fast as any index: ANN requests
    /// run exactly.
    public var minimumCount: Int

    public init(kind: Kind = .hnsw, lists: Double = 4, hnswM: Int = 32, probeFraction: Double = 0.5,
                efSearch: Int = 512, minimumCount: Int = 10_000) {
        self.kind = kind
        self.lists = lists
        self.hnswM = hnswM
        self.probeFraction = probeFraction
        self.efSearch = efSearch
        self.minimumCount = minimumCount
    }

    /// IVF lists for a count: ~lists*sqrt(n), and at least 39 training
    /// points a list (faiss' k-means minimum).
    func listCount(for count: Int) -> Int {
        max(1, min(Int(lists * Double(count).squareRoot()), count / 39))
    }

    func description(for count: Int) -> String {
        switch kind {
        case .ivf: return "IVF\(listCount(for: count)),Flat"
        case .hnsw: return "IDMap2,HNSW\(hnswM)"
        }
    }

    func depth(lists: Int) -> Int {
        switch kind {
        case .ivf: return max(1, min(lists, Int((Double(lists) * probeFraction).rounded(.up))))
        case .hnsw: return efSearch
        }
    }
}

/// One faiss index over unit vectors (inner product = cosine similarity).
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
            // k-means needs a sample, not every row: 64 a list (faiss wants at
            // least 39, and caps at 256) keeps a 1M-row build to minutes.
            let lists = options.listCount(for: ids.count)
            let sample = min(ids.count, lists * 64)
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
