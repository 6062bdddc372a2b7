import ArgumentParser
import FaceKit
import FaceKitStore
import Foundation

struct Register: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store the face of each image under an identity in the face store.",
        discussion: "The largest face of each image is registered; images without one are reported and skipped.")

    @Argument(help: "Images of the person (paths or data: URIs).")
    var images: [String]

    @Option(help: "Name of the person.")
    var identity: String

    @Option(name: [.short, .long], help: "Recognition model: SFace, Dlib.")
    var model: String = "SFace"

    @OptionGroup var storeFlags: StoreFlags
    @OptionGroup var detection: DetectionFlags

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image") }
    }

    struct EntryJSON: Encodable {
        let id: Int64
        let image: String
        let identity: String
        let facial_area: FacialArea
    }

    func run() throws {
        try Failure.run {
            let database = try FaceDatabase(store: try storeFlags.open(), engine: detection.engine(), model: model,
                                            detection: try detection.options())
            let result = try database.register(images.map(ImageSource.init(argument:)), identity: identity)
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
