import ArgumentParser
import FaceKit
import FaceKitStore
import Foundation

struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find the registered faces nearest to each face of an image.",
        discussion: """
        --exact (the default) compares the query with every stored face. --ann asks the store's \
        approximate index (faiss IVF in the embedded store, pgvector HNSW in PostgreSQL), far faster \
        on large stores; its candidates are scored again exactly. When an index cannot serve the \
        request (too few faces, more than 2000 dimensions in pgvector, the euclidean metric in the \
        embedded store) the search runs exactly and says so on stderr.
        """)

    @Argument(help: "Image to search with (path or data: URI).")
    var image: String

    @Option(help: "How many nearest faces to list per face.")
    var top: Int = 5

    @Option(name: [.short, .long], help: "Recognition model: SFace, Dlib.")
    var model: String = "SFace"

    @OptionGroup var match: MatchFlags

    @Flag(help: "Search every stored face (--exact, the default) or the approximate index (--ann).")
    var mode: SearchMode = .exact

    @OptionGroup var storeFlags: StoreFlags
    @OptionGroup var detection: DetectionFlags

    @Flag(help: "Print JSON: one object per face, with its matches.")
    var json = false

    func validate() throws {
        if top < 1 { throw ValidationError("--top must be at least 1") }
    }

    struct FaceJSON: Encodable {
        let facial_area: FacialArea
        let matches: [FaceDatabase.Match]
    }

    func run() throws {
        try Failure.run {
            let database = try FaceDatabase(store: try storeFlags.open(), engine: detection.engine(), model: model,
                                            detection: try detection.options())
            let metric = try match.distanceMetric()
            let plan = try database.store.searchPlan(mode, signature: database.signature, metric: metric, limit: .top(top))
            if let note = plan.note { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
            let results = try database.search(ImageSource(argument: image), top: top, metric: metric,
                                              threshold: match.threshold, mode: plan.mode)
            if json {
                try Output.json(results.map { FaceJSON(facial_area: $0.facialArea, matches: $0.matches) })
                return
            }
            for (i, result) in results.enumerated() {
                print("face \(i + 1) (\(Output.box(result.facialArea))): \(result.matches.count) nearest")
                if result.matches.isEmpty { continue }
                print(Output.table(["id", "identity", "distance", "threshold", "match", "confidence", "source"], result.matches.map { m in
                    ["\(m.id)", m.identity, Output.fixed(m.distance, 6), "\(m.threshold)", m.verified ? "yes" : "no",
                     Output.fixed(m.confidence, 2), m.sourcePath ?? "-"]
                }))
            }
        }
    }
}

extension SearchMode: EnumerableFlag {}
