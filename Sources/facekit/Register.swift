import ArgumentParser
import FaceKit
import FaceKitStore
import Foundation

struct Register: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store the face of each image under an identity in the face store.",
        discussion: """
        The largest face of each image is registered; images without one are reported and skipped. \
        With --from DIR, a folder tree is enrolled instead: people in folders (DIR/alice/*.jpg is \
        alice) or one image per person (DIR/alice.jpg), every face of each image, in parallel with \
        progress; a rerun processes only images added or changed and removes those deleted.
        """)

    @Argument(help: "Images of the person (paths or data: URIs).")
    var images: [String] = []

    @Option(help: "Name of the person.")
    var identity: String?

    @Option(name: .customLong("from"), help: "Enrol a folder tree (identities from folder or file names).")
    var from: String?

    @Flag(help: "Keep only vectors, identities and boxes: no image path or hash.")
    var privacy = false

    @Option(name: [.short, .long], help: "Recognition model: SFace, Dlib.")
    var model: String = "SFace"

    @OptionGroup var storeFlags: StoreFlags
    @OptionGroup var detection: DetectionFlags

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        if from != nil {
            if !images.isEmpty || identity != nil { throw ValidationError("--from DIR takes no images and no --identity") }
        } else {
            if images.isEmpty { throw ValidationError("give at least one image, or --from DIR") }
            if identity == nil { throw ValidationError("give --identity NAME") }
        }
    }

    struct EntryJSON: Encodable {
        let id: Int64
        let image: String
        let identity: String
        let facial_area: FacialArea
    }

    struct EnrolJSON: Encodable {
        let images, added, changed, removed, unchanged, processed, faces_added, faces, skipped: Int
        let seconds: Double
    }

    func run() throws {
        try Failure.run {
            let database = try FaceDatabase(store: try storeFlags.open(), engine: detection.engine(bulk: from != nil), model: model,
                                            detection: try detection.options())
            if let from {
                let progress = ProgressPrinter(label: "enrolling")
                let report = try database.enrol(folder: from, privacy: privacy) { p in
                    progress.update(done: p.done, total: p.total, elapsed: p.elapsed, failures: p.failures)
                }
                progress.finish()
                for failure in report.failures { progress.write("skipped \(failure.path): \(failure.message)\n") }
                let summary = """
                    enrolled \(from) into \(database.store.location): \(report.images) images (\(report.added) added, \
                    \(report.changed) changed, \(report.removed) removed, \(report.unchanged) unchanged); processed \
                    \(report.processed) in \(Output.fixed(report.seconds, 2)) s (\(Output.fixed(report.imagesPerSecond, 1)) images/s); \
                    \(report.facesAdded) faces added, \(report.faces) under this model
                    """
                if json {
                    try Output.json(EnrolJSON(images: report.images, added: report.added, changed: report.changed,
                                              removed: report.removed, unchanged: report.unchanged, processed: report.processed,
                                              faces_added: report.facesAdded, faces: report.faces, skipped: report.failures.count,
                                              seconds: report.seconds))
                } else {
                    print(summary)
                }
                return
            }
            let identity = identity ?? ""
            let result = try database.register(images.map(ImageSource.init(argument:)), identity: identity, privacy: privacy)
            for failure in result.failures { Failure.printError("skipped \(failure.image): \(failure.error.description)") }
            if json {
                try Output.json(result.registered.map { EntryJSON(id: $0.id, image: $0.image, identity: identity, facial_area: $0.facialArea) })
                return
            }
            for entry in result.registered {
                let note = entry.facesInImage > 1 ? " (largest of \(entry.facesInImage) faces)" : ""
                print("registered \(identity) id \(entry.id) from \(entry.image): \(Output.box(entry.facialArea))\(note)")
            }
        }
    }
}
