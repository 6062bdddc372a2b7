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

    @Option(help: "Embedded store ANN kind: ivf or hnsw.")
    var annKind: String = "ivf"

    @Option(help: "IVF: fraction of the lists probed.")
    var probeFraction: Double = ANNOptions().probeFraction

    @Option(help: "HNSW (faiss) efSearch.")
    var efSearch: Int = ANNOptions().efSearch

    @Option(help: "pgvector hnsw.ef_search.")
    var pgEfSearch: Int = 200

    @Flag(help: "Keep the scratch stores.")
    var keep = false

    func run() throws {
        try Failure.run {
            let countList = counts.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            let dimList = dims.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            let storeList = stores.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let kind = ANNOptions.Kind(rawValue: annKind) else { throw FaceKitError.invalidInput("--ann-kind is ivf or hnsw") }
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
                            let options = ANNOptions(kind: kind, probeFraction: probeFraction, efSearch: efSearch)
                            let store = try SQLiteVectorStore(path: folder.appendingPathComponent("bench-\(count)-\(d).sqlite").path, ann: options)
                            result = try bench.run(store, diskUsage: store.diskUsage, log: log)
                        case "postgres":
                            let name = "facekit_bench_\(count)_\(d)"
                            let url = try PostgresVectorStore.createDatabase(named: name, server: postgres!)
                            let store = try PostgresVectorStore(url: url, efSearch: pgEfSearch)
                            result = try bench.run(store, diskUsage: store.diskUsage, log: log)
                            if !keep { try PostgresVectorStore.dropDatabase(named: name, server: postgres!) }
                        default:
                            throw FaceKitError.invalidInput("unknown store \(storeName): sqlite or postgres")
                        }
                        if let note = result.annNote { log("note: \(note)") }
                        let row = [storeName, "\(count)", "\(d)", Output.fixed(result.insertsPerSecond, 0),
                                   Output.fixed(result.exactLoadSeconds, 2), Output.fixed(result.exactP50 * 1000, 2),
                                   Output.fixed(result.exactP99 * 1000, 2), Output.fixed(result.annBuildSeconds, 1),
                                   Output.fixed(result.annP50 * 1000, 2), Output.fixed(result.annP99 * 1000, 2),
                                   Output.fixed(result.recallAt10, 4), result.annMode.rawValue,
                                   Output.fixed(Double(result.bytesOnDisk) / 1_048_576, 1)]
                        print(row.joined(separator: "\t"))
                        rows.append(row)
                    }
                }
            }
            print("")
            print(Output.table(["store", "vectors", "dims", "inserts/s", "load s", "exact p50 ms", "exact p99 ms",
                                "ann build s", "ann p50 ms", "ann p99 ms", "recall@10", "ann mode", "MiB on disk"], rows))
        }
    }
}
