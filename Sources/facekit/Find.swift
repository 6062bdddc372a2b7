import ArgumentParser
import FaceKit
import FaceKitStore
import Foundation

struct Find: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look the faces of an image up in a folder of images (deepface's find).",
        discussion: """
        Each image in the folder is an identity (its path). Embeddings are cached in the folder in a \
        SQLite file named after the pipeline; later runs process only images added, changed or \
        removed. Prints, for each face in IMAGE, the folder's faces within the threshold, nearest first.
        """)

    @Argument(help: "Image to look up (path or data: URI).")
    var image: String

    @Option(help: "Folder of images to search in.")
    var db: String

    @Option(name: [.short, .long], help: "Recognition model: SFace, Dlib.")
    var model: String = "SFace"

    @OptionGroup var match: MatchFlags

    @Option(name: .customLong("top"), help: "At most this many matches per face (deepface's k).")
    var top: Int?

    @OptionGroup var detection: DetectionFlags

    @Flag(help: "Print JSON: one list of matches per face, with deepface's keys.")
    var json = false

    func run() throws {
        try Failure.run {
            let metric = try match.distanceMetric()
            let index = try FolderIndex(folder: db, engine: detection.engine(bulk: true), model: model, detection: try detection.options())
            let progress = ProgressPrinter(label: "indexing")
            let (report, found) = try index.refreshAndFind(ImageSource(argument: image), metric: metric, threshold: match.threshold,
                                                             top: top) { p in
                progress.update(done: p.done, total: p.total, elapsed: p.elapsed, failures: p.failures)
            }
            progress.finish()
            for failure in report.failures { progress.write("skipped \(failure.path): \(failure.message)\n") }
            progress.write("""
                index \(index.store.location): \(report.images) images (\(report.added) added, \(report.changed) changed, \
                \(report.removed) removed, \(report.unchanged) unchanged); processed \(report.processed) in \
                \(Output.fixed(report.seconds, 2)) s (\(Output.fixed(report.imagesPerSecond, 1)) images/s); \(report.faces) faces\n
                """)
            let results = try found.get()
            if json {
                try Output.json(results)
                return
            }
            for (i, matches) in results.enumerated() {
                let face = matches.first.map { "x=\($0.sourceX) y=\($0.sourceY) w=\($0.sourceW) h=\($0.sourceH)" } ?? ""
                print("face \(i + 1)\(face.isEmpty ? "" : " (\(face))"): \(matches.count) match(es)")
                if matches.isEmpty { continue }
                print(Output.table(["identity", "distance", "threshold", "confidence", "target"], matches.map { m in
                    [m.identity, Output.fixed(m.distance, 6), "\(m.threshold)", Output.fixed(m.confidence, 2),
                     "x=\(m.targetX) y=\(m.targetY) w=\(m.targetW) h=\(m.targetH)"]
                }))
            }
        }
    }
}
