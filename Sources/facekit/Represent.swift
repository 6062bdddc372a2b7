import ArgumentParser
import FaceKit

struct Represent: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print each face's embedding, facial area and confidence.")

    @Argument(help: "Image path (or data: URI).")
    var image: String

    @Option(name: [.short, .long], help: "Recognition model: VGG-Face, Facenet, Facenet512, ArcFace, SFace, GhostFaceNet, OpenFace, DeepID or Dlib.")
    var model: String = "SFace"

    @OptionGroup var detection: DetectionFlags

    @OptionGroup var weights: WeightsFlag

    @Flag(help: "Print JSON.")
    var json = false

    func run() throws {
        try Failure.run {
            let faces = try detection.engine(weights: try weights.map(models: [model]), images: 1).represent(ImageSource(argument: image), model: model, options: try detection.options())
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
