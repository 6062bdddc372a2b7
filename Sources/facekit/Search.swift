import ArgumentParser
import FaceKit
import FaceKitStore
import Foundation

struct Search: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find the registered faces nearest to each face of an image (exact search).")

    @Argument(help: "Image to search with (path or data: URI).")
    var image: String

    @Option(help: "How many nearest faces to list per face.")
    var top: Int = 5

    @Option(name: [.short, .long], help: "Recognition model: SFace, Dlib.")
    var model: String = "SFace"

    @OptionGroup var match: MatchFlags

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
            let results = try database.search(ImageSource(argument: image), top: top, metric: try match.distanceMetric(),
                                              threshold: match.threshold)
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
