import FaceKit
import Foundation

/// The store benchmark: insert rate, exact and ANN top-k latency, ANN
/// recall against exact, and size on disk, on synthetic vectors.
///
/// The vectors imitate face embeddings rather than uniform noise: people
/// (random unit centres) with several faces each, spread so that two faces
/// of one person have a cosine similarity of about 0.75 and two people about
/// 0, as SFace gives on deepface's master.csv (0.77 and 0.14). Each query is
/// a new face of a stored person, so its top 10 holds that person's faces
/// and then the nearest strangers: the part an ANN index finds hardest.
public struct StoreBenchmark: Sendable {
    public var count: Int
    public var dimensions: Int
    public var facesPerPerson = 5
    public var queries = 200
    public var k = 10
    public var batch = 10_000
    public var seed: UInt64 = 42

    public init(count: Int, dimensions: Int) {
        self.count = count
        self.dimensions = dimensions
    }

    public struct Result: Sendable {
        public var count = 0
        public var dimensions = 0
        public var insertSeconds = 0.0
        public var insertsPerSecond: Double { insertSeconds > 0 ? Double(count) / insertSeconds : 0 }
        /// The first exact search, which loads the matrix.
        public var exactLoadSeconds = 0.0
        public var exactP50 = 0.0, exactP99 = 0.0
        /// CPU time of the whole process per query (every thread), median:
        /// what a query costs whatever else the machine is running.
        public var exactCPU50 = 0.0
        /// The first ANN search, which builds (or catches up) the index.
        public var annBuildSeconds = 0.0
        public var annMode = SearchMode.ann
        public var annNote: String?
        /// One entry per search setting swept (lists probed, ef_search).
        public var ann: [ANNMeasurement] = []
        public var bytesOnDisk: Int64 = 0
    }

    public struct ANNMeasurement: Sendable {
        public var setting: String
        public var p50 = 0.0, p99 = 0.0, cpu50 = 0.0
        public var recallAt10 = 0.0
    }

    public var signature: PipelineSignature {
        PipelineSignature(model: "bench\(dimensions)", modelSHA256: "synthetic-seed-\(seed)", dimensions: dimensions,
                          detector: "none", align: false, alignment: "none", expandPercentage: 0)
    }

    /// A tiny fixed generator (SplitMix64 + Box-Muller), so every run and
    /// both stores see the same vectors.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E3779B97F4A7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
            z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
            return z ^ (z >> 31)
        }
        mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / Double(1 << 53) }
        mutating func gaussian() -> Float {
            Float((-2 * Foundation.log(uniform())).squareRoot() * Foundation.cos(2 * Double.pi * uniform()))
        }
    }

    func centre(_ person: Int) -> [Float] {
        var g = Generator(state: seed &+ UInt64(person) &* 0x51_7CC1_B727_220A)
        var v = (0..<dimensions).map { _ in g.gaussian() }
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for i in v.indices { v[i] /= norm }
        return v
    }

    /// Face `index` of a person: centre plus noise of total length ~0.58,
    /// which puts two faces of one person at cosine ~0.75.
    public func face(person: Int, index: Int) -> [Float] {
        var g = Generator(state: seed ^ (UInt64(person) << 20 | UInt64(index)) &* 0x2545F4914F6CDD1D)
        let sigma = Float((1.0 / (3.0 * Double(dimensions))).squareRoot())
        return centre(person).map { $0 + sigma * g.gaussian() }
    }

    /// `annSettings` are labels handed to `configure` before each ANN
    /// measurement (the index is built once, then searched at each setting).
    public func run(_ store: any VectorStore, diskUsage: () throws -> Int64, annSettings: [String] = ["default"],
                    configure: (String) throws -> Void = { _ in }, log: (String) -> Void = { _ in }) throws -> Result {
        var result = Result()
        result.count = count
        result.dimensions = dimensions
        let people = max(1, count / facesPerPerson)
        let sig = signature

        // Only the store's add is timed, not making the vectors.
        var added = 0
        while added < count {
            let n = min(batch, count - added)
            let records = (added..<(added + n)).map { i in
                FaceRecord(identity: "person\(i / facesPerPerson)", embedding: face(person: i / facesPerPerson, index: i % facesPerPerson))
            }
            let batchStart = Date()
            try store.add(records, signature: sig)
            result.insertSeconds += Date().timeIntervalSince(batchStart)
            added += n
            if added % (batch * 10) == 0 || added == count {
                log("inserted \(added)/\(count) (\(Int(Double(added) / result.insertSeconds)) rows/s)")
            }
        }

        var g = Generator(state: seed ^ 0xABCDEF)
        let queryVectors = (0..<queries).map { q in face(person: Int(g.next() % UInt64(people)), index: facesPerPerson + q) }

        var start = Date()
        var exact = [try store.search(queryVectors[0], signature: sig, metric: .cosine, limit: .top(k), mode: .exact)]
        result.exactLoadSeconds = Date().timeIntervalSince(start)
        let exactRun = try timed(queryVectors.dropFirst()) { q in
            try store.search(q, signature: sig, metric: .cosine, limit: .top(k), mode: .exact)
        }
        exact += exactRun.answers
        (result.exactP50, result.exactP99, result.exactCPU50) = (exactRun.p50, exactRun.p99, exactRun.cpu50)
        log("exact: first \(result.exactLoadSeconds) s, p50 \(result.exactP50 * 1000) ms")

        let plan = try store.searchPlan(.ann, signature: sig, metric: .cosine, limit: .top(k))
        result.annMode = plan.mode
        result.annNote = plan.note
        start = Date()
        _ = try store.search(queryVectors[0], signature: sig, metric: .cosine, limit: .top(k), mode: .ann)
        result.annBuildSeconds = Date().timeIntervalSince(start)
        for setting in annSettings {
            try configure(setting)
            var measured = ANNMeasurement(setting: setting)
            let annRun = try timed(queryVectors[...]) { q in
                try store.search(q, signature: sig, metric: .cosine, limit: .top(k), mode: .ann)
            }
            (measured.p50, measured.p99, measured.cpu50) = (annRun.p50, annRun.p99, annRun.cpu50)
            var found = 0, wanted = 0
            for (e, a) in zip(exact, annRun.answers) {
                let truth = Set(e.map(\.id))
                wanted += truth.count
                found += a.filter { truth.contains($0.id) }.count
            }
            measured.recallAt10 = wanted > 0 ? Double(found) / Double(wanted) : 0
            log("ann \(setting): p50 \(measured.p50 * 1000) ms, p99 \(measured.p99 * 1000) ms, recall@10 \(measured.recallAt10)")
            result.ann.append(measured)
        }
        result.bytesOnDisk = try diskUsage()
        return result
    }

    /// Each query's answer, with the wall-time p50 and p99 and the median
    /// process CPU time of one search.
    func timed(_ queries: ArraySlice<[Float]>, _ search: ([Float]) throws -> [StoredMatch]) throws
        -> (answers: [[StoredMatch]], p50: Double, p99: Double, cpu50: Double)
    {
        var answers: [[StoredMatch]] = [], times: [Double] = [], cpu: [Double] = []
        for q in queries {
            let start = Date(), cpuStart = Self.processCPU()
            answers.append(try search(q))
            cpu.append(Self.processCPU() - cpuStart)
            times.append(Date().timeIntervalSince(start))
        }
        let (p50, p99) = Self.percentiles(times)
        return (answers, p50, p99, Self.percentiles(cpu).0)
    }

    /// Seconds of CPU this process has used, all threads (a PostgreSQL
    /// server's own work is in its processes, not here).
    static func processCPU() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    static func percentiles(_ times: [Double]) -> (Double, Double) {
        guard !times.isEmpty else { return (0, 0) }
        let sorted = times.sorted()
        func at(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int((p * Double(sorted.count - 1)).rounded()))] }
        return (at(0.5), at(0.99))
    }
}
