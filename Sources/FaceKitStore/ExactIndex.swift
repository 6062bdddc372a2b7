import FaceKit
import Foundation

/// The vectors of one pipeline as one contiguous row-major Float matrix,
/// scanned in full for every query. Float and SIMD for the scan; the few
/// candidates it keeps are scored again in Double with DistanceMetric, so the
/// distances reported are deepface's to the last digit.
struct ExactIndex: Sendable {
    let dimensions: Int
    let ids: [Int64]
    let matrix: [Float]
    /// 1/|row|, so cosine-family metrics need one dot product per row.
    let inverseNorms: [Float]
    /// The store's change counter the index was loaded at.
    let generation: Int64

    var count: Int { ids.count }

    init(dimensions: Int, ids: [Int64], matrix: [Float], generation: Int64) {
        self.init(dimensions: dimensions, ids: ids, matrix: matrix, generation: generation,
                  inverseNorms: Self.inverseNorms(matrix, dimensions: dimensions))
    }

    private init(dimensions: Int, ids: [Int64], matrix: [Float], generation: Int64, inverseNorms: [Float]) {
        precondition(matrix.count == ids.count * dimensions && inverseNorms.count == ids.count)
        self.dimensions = dimensions
        self.ids = ids
        self.matrix = matrix
        self.generation = generation
        self.inverseNorms = inverseNorms
    }

    /// This index with rows added at the end (norms computed for those only).
    func appending(ids newIDs: [Int64], matrix newRows: [Float], generation: Int64) -> ExactIndex {
        ExactIndex(dimensions: dimensions, ids: ids + newIDs, matrix: matrix + newRows, generation: generation,
                   inverseNorms: inverseNorms + Self.inverseNorms(newRows, dimensions: dimensions))
    }

    static func inverseNorms(_ matrix: [Float], dimensions: Int) -> [Float] {
        let count = dimensions > 0 ? matrix.count / dimensions : 0
        var norms = [Float](repeating: 0, count: count)
        matrix.withUnsafeBufferPointer { m in
            for r in 0..<count {
                let row = m.baseAddress! + r * dimensions
                let n = dot(row, row, dimensions).squareRoot()
                norms[r] = n > 0 ? 1 / n : 0
            }
        }
        return norms
    }

    func row(_ r: Int) -> [Float] {
        Array(matrix[(r * dimensions)..<((r + 1) * dimensions)])
    }

    /// Float distances carry ~1e-6 of rounding on unit vectors; candidates are
    /// kept this far past a limit so the Double rescoring decides the edge.
    static let margin: Float = 1e-4
    /// Extra rows kept beyond k, rescored, so Float ties near the k-th place
    /// cannot push out a row that Double ranks higher.
    static let extra = 16

    /// Rows within the limit, nearest first, as (row, exact distance).
    func search(_ query: [Float], metric: DistanceMetric, limit: SearchLimit) throws -> [(row: Int, distance: Double)] {
        guard query.count == dimensions else {
            throw FaceKitError.invalidInput("query has \(query.count) dimensions, the store's pipeline has \(dimensions)")
        }
        guard count > 0, limit.top.map({ $0 > 0 }) ?? true else { return [] }
        let bound = limit.maxDistance.map { Float($0) + Self.margin } ?? .infinity
        // Large matrices are scanned in one slice per core, each keeping its
        // own candidates; the slices' candidates are merged before rescoring.
        let slices = count >= Self.parallelThreshold ? max(1, ProcessInfo.processInfo.activeProcessorCount) : 1
        let perSlice = (count + slices - 1) / slices
        let found = Locked<[(row: Int, approx: Float)]>([])
        DispatchQueue.concurrentPerform(iterations: slices) { slice in
            let rows = (slice * perSlice)..<min(count, (slice + 1) * perSlice)
            var local: [(row: Int, approx: Float)] = []
            if let k = limit.top {
                var heap = BoundedMaxHeap(capacity: k + Self.extra)
                scan(query, metric: metric, rows: rows) { r, d in
                    if d <= bound { heap.insert(d, r) }
                }
                local = heap.elements.map { ($0.row, $0.value) }
            } else {
                scan(query, metric: metric, rows: rows) { r, d in
                    if d <= bound { local.append((r, d)) }
                }
            }
            found.withLock { $0 += local }
        }
        var candidates = found.withLock { $0 }
        if let k = limit.top, candidates.count > k + Self.extra {
            candidates.sort { $0.approx != $1.approx ? $0.approx < $1.approx : $0.row < $1.row }
            candidates.removeLast(candidates.count - (k + Self.extra))
        }
        var scored = try candidates.map { c in (row: c.row, distance: try metric.distance(query, row(c.row))) }
        if let maxDistance = limit.maxDistance { scored.removeAll { $0.distance > maxDistance } }
        // Ties go to the older row, so equal distances come out in a stable order.
        scored.sort { $0.distance != $1.distance ? $0.distance < $1.distance : ids[$0.row] < ids[$1.row] }
        if let k = limit.top, scored.count > k { scored.removeLast(scored.count - k) }
        return scored
    }

    /// Rows from which a scan is split across cores (below, one core is faster).
    static let parallelThreshold = 50_000

    /// Calls `visit` with every row of `rows` and its Float distance.
    private func scan(_ query: [Float], metric: DistanceMetric, rows: Range<Int>, _ visit: (Int, Float) -> Void) {
        let d = dimensions
        query.withUnsafeBufferPointer { qb in
            matrix.withUnsafeBufferPointer { mb in
                inverseNorms.withUnsafeBufferPointer { inv in
                    let q = qb.baseAddress!, m = mb.baseAddress!
                    switch metric {
                    case .euclidean:
                        for r in rows { visit(r, Self.squaredDistance(q, m + r * d, d).squareRoot()) }
                    case .cosine, .euclideanL2, .angular:
                        let qn = Self.dot(q, q, d).squareRoot()
                        let qInverse: Float = qn > 0 ? 1 / qn : 0
                        for r in rows {
                            let cosine = min(1, max(-1, Self.dot(q, m + r * d, d) * qInverse * inv[r]))
                            visit(r, Self.distance(cosine: cosine, metric: metric))
                        }
                    }
                }
            }
        }
    }

    @inline(__always)
    static func distance(cosine: Float, metric: DistanceMetric) -> Float {
        switch metric {
        case .cosine: return 1 - cosine
        case .euclideanL2: return max(0, 2 - 2 * cosine).squareRoot()
        case .angular: return Foundation.acos(cosine) / Float.pi
        case .euclidean: return .nan
        }
    }

    // Two 8-wide accumulators keep two chains in flight; the tail loop
    // covers dimensions that are not a multiple of 8. Multiply then add, not
    // addProduct: the default x86-64 target has no FMA instruction, and a
    // fused multiply-add there is a libm call per lane (10x slower). The
    // candidates are rescored in Double, so the rounding does not matter.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var i = 0
        while i + 16 <= n {
            acc0 += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            acc1 += ra.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self)
            i += 16
        }
        if i + 8 <= n {
            acc0 += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        var sum = (acc0 + acc1).sum()
        while i < n {
            sum += a[i] * b[i]
            i += 1
        }
        return sum
    }

    @inline(__always)
    static func squaredDistance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var i = 0
        while i + 16 <= n {
            let d0 = ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                - rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            let d1 = ra.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self)
                - rb.loadUnaligned(fromByteOffset: (i + 8) * 4, as: SIMD8<Float>.self)
            acc0 += d0 * d0
            acc1 += d1 * d1
            i += 16
        }
        if i + 8 <= n {
            let d0 = ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                - rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            acc0 += d0 * d0
            i += 8
        }
        var sum = (acc0 + acc1).sum()
        while i < n {
            let d = a[i] - b[i]
            sum += d * d
            i += 1
        }
        return sum
    }
}

/// The k smallest values seen, as a max-heap: the root is the one to evict.
struct BoundedMaxHeap {
    struct Element { var value: Float; var row: Int }
    let capacity: Int
    private(set) var elements: [Element] = []

    init(capacity: Int) {
        self.capacity = capacity
        elements.reserveCapacity(capacity)
    }

    mutating func insert(_ value: Float, _ row: Int) {
        if elements.count < capacity {
            elements.append(Element(value: value, row: row))
            siftUp(elements.count - 1)
        } else if let top = elements.first, value < top.value {
            elements[0] = Element(value: value, row: row)
            siftDown(0)
        }
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard elements[child].value > elements[parent].value else { return }
            elements.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1, right = left + 1
            var largest = parent
            if left < elements.count && elements[left].value > elements[largest].value { largest = left }
            if right < elements.count && elements[right].value > elements[largest].value { largest = right }
            if largest == parent { return }
            elements.swapAt(parent, largest)
            parent = largest
        }
    }
}
