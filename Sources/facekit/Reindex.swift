import ArgumentParser
import FaceKit
import FaceKitStore
import Foundation

struct Reindex: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recompute the stored faces of a model computed under an older pipeline.",
        discussion: """
        A pipeline is the model's weights (SHA-256), the detector, alignment, expansion and FaceKit's \
        version. Faces stored under another pipeline of the same model are never compared with the \
        current one; reindex recomputes them from their source images (when still there, with the \
        same SHA-256), keeping identity, path and hash. Faces that cannot be recomputed stay where \
        they are and are listed. A killed reindex resumes on the next run.
        """)

    @Option(name: [.short, .long], help: "Recognition model: SFace, Dlib.")
    var model: String = "SFace"

    @OptionGroup var storeFlags: StoreFlags
    @OptionGroup var detection: DetectionFlags

    func run() throws {
        try Failure.run {
            let database = try FaceDatabase(store: try storeFlags.open(), engine: detection.engine(bulk: true), model: model,
                                            detection: try detection.options())
            let progress = ProgressPrinter(label: "reindexing")
            let report = try database.reindex { p in
                progress.update(done: p.done, total: p.total, elapsed: p.elapsed, failures: p.failures)
            }
            progress.finish()
            for kept in report.kept { progress.write("kept face \(kept.id) (\(kept.identity)) under its old pipeline: \(kept.reason)\n") }
            print("reindexed \(report.reindexed) face(s) from \(report.images) image(s) in \(Output.fixed(report.seconds, 2)) s; \(report.kept.count) kept under an older pipeline")
        }
    }
}
