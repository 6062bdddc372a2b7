import ArgumentParser
import FaceKit
import FaceKitStore
import Foundation

struct BenchStore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-store",
        abstract: "Benchmark the face stores on synthetic vectors: insert rate, exact and ANN top-10 latency, recall, size.",
        discussion: """
        Each size and dimension runs on a new scratch store: a SQLite file in --dir, and, with \
        --postgres, a database created on that server (dropped afterwards). The vectors imitate \
        face embeddings: people with 5 faces each, cosine ~0.75 within a person and ~0 across.
        """)

    @Option(help: "Vector counts, comma-separated.")
    var counts: String = "100000,1000000"

    @Option(help: "Dimensions, comma-separated.")
    var dims: String = "128,512"

    @Option(help: "Stores to run: sqlite, postgres (comma-separated).")
    var stores: String = "sqlite,postgres"

    @Option(help: "A PostgreSQL server URL (its database is used only to create scratch databases).")
    var postgres: String?

    @Option(help: "Folder for the scratch SQLite files (default: a temporary folder).")
    var dir: String?

    @Option(help: "Queries per measurement.")
    var queries: Int = 200

    @Option(help: "Embedded store ANN kind: sq4 (4-bit scan, exact re-ranking), ivf or hnsw (faiss).")
    var annKind: String = ANNOptions().kind.rawValue

    @Option(help: "Embedded sq4: candidates scored exactly, comma-separated.")
    var candidates: String = "\(ANNOptions().candidates)"

    @Option(help: "Embedded IVF: fractions of the lists probed, comma-separated (each measured on one build).")
    var probeFractions: String = "\(ANNOptions().probeFraction)"

    @Option(help: "Embedded HNSW (faiss): efSearch values, comma-separated.")
    var efSearches: String = "\(ANNOptions().efSearch)"

    @Option(help: "PostgreSQL ANN engine: pgvector (HNSW) or local (the sq4 scan mirrored in this process).")
    var pgAnn: String = PostgresVectorStore.ANNEngine.pgvector.rawValue

    @Option(help: "pgvector hnsw.ef_search values, comma-separated.")
    var pgEfSearches: String = "200"

    @Flag(help: "Keep the scratch stores.")
    var keep = false

    func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func run() throws {
        try Failure.run {
            let countList = counts.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            let dimList = dims.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            let storeList = stores.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let kind = ANNOptions.Kind(rawValue: annKind) else { throw FaceKitError.invalidInput("--ann-kind is sq4, ivf or hnsw") }
            if storeList.contains("postgres") && postgres == nil {
                throw FaceKitError.invalidInput("--postgres URL is needed for the postgres store (scripts/pg-server.sh start DIR prints one)")
            }
            let folder = URL(fileURLWithPath: dir ?? NSTemporaryDirectory()).appendingPathComponent("facekit-bench-\(getpid())")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { if !keep { try? FileManager.default.removeItem(at: folder) } }
            var rows: [[String]] = []
            for count in countList {
                for d in dimList {
                    for storeName in storeList {
                        var bench = StoreBenchmark(count: count, dimensions: d)
                        bench.queries = queries
                        let log: (String) -> Void = { FileHandle.standardError.write(Data("[\(storeName) \(count)x\(d)] \($0)\n".utf8)) }
                        let result: StoreBenchmark.Result
                        switch storeName {
                        case "sqlite":
                            let store = try SQLiteVectorStore(path: folder.appendingPathComponent("bench-\(count)-\(d).sqlite").path,
                                                              ann: ANNOptions(kind: kind))
                            let settings: [String]
                            switch kind {
                            case .sq4: settings = list(candidates).map { "candidates=\($0)" }
                            case .ivf: settings = list(probeFractions).map { "nprobe=\($0)*lists" }
                            case .hnsw: settings = list(efSearches).map { "efSearch=\($0)" }
                            }
                            result = try bench.run(store, diskUsage: store.diskUsage, annSettings: settings, configure: { label in
                                let value = String(label.split(separator: "=")[1].split(separator: "*")[0])
                                switch kind {
                                case .sq4: try store.setANNDepth(candidates: Int(value))
                                case .ivf: try store.setANNDepth(probeFraction: Double(value))
                                case .hnsw: try store.setANNDepth(efSearch: Int(value))
                                }
                            }, log: log)
                        case "postgres":
                            let name = "facekit_bench_\(count)_\(d)"
                            let url = try PostgresVectorStore.createDatabase(named: name, server: postgres!)
                            guard let engine = PostgresVectorStore.ANNEngine(rawValue: pgAnn) else {
                                throw FaceKitError.invalidInput("--pg-ann is pgvector or local")
                            }
                            let store = try PostgresVectorStore(url: url, ann: engine,
                                                                localANN: ANNOptions(candidates: Int(list(candidates).first ?? "") ?? 100))
                            let settings = engine == .local ? ["local sq4 candidates=\(store.localANN.candidates)"]
                                                            : list(pgEfSearches).map { "ef_search=\($0)" }
                            result = try bench.run(store, diskUsage: store.diskUsage, annSettings: settings, configure: { label in
                                if engine == .pgvector { try store.setEfSearch(Int(label.split(separator: "=")[1]) ?? 200) }
                            }, log: log)
                            if !keep { try PostgresVectorStore.dropDatabase(named: name, server: postgres!) }
                        default:
                            throw FaceKitError.invalidInput("unknown store \(storeName): sqlite or postgres")
                        }
                        if let note = result.annNote { log("note: \(note)") }
                        for ann in result.ann {
                            let row = [storeName, "\(count)", "\(d)", Output.fixed(result.insertsPerSecond, 0),
                                       Output.fixed(result.exactLoadSeconds, 2), Output.fixed(result.exactP50 * 1000, 2),
                                       Output.fixed(result.exactP99 * 1000, 2), Output.fixed(result.exactCPU50 * 1000, 2),
                                       Output.fixed(result.annBuildSeconds, 1),
                                       result.annMode == .ann ? ann.setting : "exact (see note)",
                                       Output.fixed(ann.p50 * 1000, 2), Output.fixed(ann.p99 * 1000, 2),
                                       storeName == "postgres" ? "-" : Output.fixed(ann.cpu50 * 1000, 2),
                                       Output.fixed(ann.recallAt10, 4), Output.fixed(Double(result.bytesOnDisk) / 1_048_576, 1)]
                            print(row.joined(separator: "\t"))
                            rows.append(row)
                        }
                    }
                }
            }
            print("")
            // Wall-clock latency on a shared machine depends on its load; the
            // CPU column is this process's CPU per query (median), which does
            // not (PostgreSQL's ANN work is in the server, so it has none).
            print(Output.table(["store", "vectors", "dims", "inserts/s", "load s", "exact p50 ms", "exact p99 ms", "exact cpu ms",
                                "ann build s", "ann setting", "ann p50 ms", "ann p99 ms", "ann cpu ms", "recall@10",
                                "MiB on disk"], rows))
            var load = [Double](repeating: 0, count: 3)
            if getloadavg(&load, 3) == 3 { print("load average at the end: \(load.map { Output.fixed($0, 2) }.joined(separator: " ")) on \(ProcessInfo.processInfo.activeProcessorCount) cores") }
        }
    }
}
