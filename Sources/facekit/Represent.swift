import ArgumentParser
import FaceKit

struct Represent: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print each face's embedding, facial area and confidence.")

    @Argument(help: "Image path (or data: URI).")
    var image: String

    @Option(name: [.short, .long], help: "Recognition model: SFace or Dlib.")
    var model: String = "SFace"

    @OptionGroup var detection: DetectionFlags

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        try Failure.run {
            let faces = try detection.engine().represent(ImageSource(argument: image), model: model, options: try detection.options())
            if json {
                try Output.json(faces)
                return
            }
            for (i, face) in faces.enumerated() {
                print("face \(i + 1): \(Output.box(face.facialArea)) confidence \(face.faceConfidence)")
                print("  \(face.embedding.count)-d: [" + face.embedding.map { Output.fixed(Double($0), 5) }.joined(separator: ", ") + "]")
            }
        }
    }
}
