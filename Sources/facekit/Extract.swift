import ArgumentParser
import FaceKit
import Foundation

struct Extract: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Detect faces: boxes, landmarks and confidence; optionally save aligned crops and an annotated image.")

    @Argument(help: "Image path (or data: URI).")
    var image: String

    @Option(help: "Folder to write face_N.png crops and annotated.jpg into.")
    var output: String?

    @OptionGroup var detection: DetectionFlags

    @Flag(help: "Print JSON.")
    var json = false

    struct FaceJSON: Encodable {
        let facial_area: FacialArea
        let confidence: Double
        let crop: String?
    }

    func run() throws {
        try Failure.run {
            let engine = detection.engine(images: 1)
            let source = ImageSource(argument: image)
            let original = try engine.loadImage(source)
            let faces = try engine.extractFaces(from: original, source: source.name, options: try detection.options())
            var crops: [String?] = Array(repeating: nil, count: faces.count)
            if let output {
                let dir = URL(fileURLWithPath: output)
                do {
                    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                } catch {
                    throw FaceKitError.io("cannot create \(output): \(error.localizedDescription)")
                }
                for (i, face) in faces.enumerated() {
                    let path = dir.appendingPathComponent("face_\(i + 1).png").path
                    try face.face.write(to: path)
                    crops[i] = path
                }
                let annotated = try original.annotated(faces.enumerated().map { i, f in
                    (f.facialArea, "\(i + 1): \(Output.fixed(f.confidence, 2))")
                })
                try annotated.write(to: dir.appendingPathComponent("annotated.jpg").path)
            }
            if json {
                try Output.json(faces.enumerated().map { i, f in FaceJSON(facial_area: f.facialArea, confidence: f.confidence, crop: crops[i]) })
                return
            }
            print("\(faces.count) face(s) in \(image)")
            for (i, f) in faces.enumerated() {
                let a = f.facialArea
                print("face \(i + 1): \(Output.box(a)) confidence \(f.confidence)")
                print("  left eye \(Output.point(a.leftEye)) right eye \(Output.point(a.rightEye)) nose \(Output.point(a.nose)) mouth \(Output.point(a.mouthLeft)) \(Output.point(a.mouthRight))")
                if let crop = crops[i] { print("  crop: \(crop)") }
            }
            if let output { print("annotated: \(URL(fileURLWithPath: output).appendingPathComponent("annotated.jpg").path)") }
        }
    }
}
