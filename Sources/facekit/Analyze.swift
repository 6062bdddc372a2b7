import ArgumentParser
import FaceKit
import Foundation

struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "deepface's analyze: age, gender, race and emotion of every face.",
        discussion: """
        deepface's own models are used when their files are present; otherwise the real alternatives \
        (age_net, gender_net, fer) answer, and the output names the model behind each attribute. An action \
        with no model on this machine (race, without deepface's file) is reported, not fatal.
        """)

    @Argument(help: "Image paths (or data: URIs, or '-' for stdin). Several images load the models once; JSON is then a list per image, as deepface's analyze gives for a list.")
    var images: [String]

    @Option(help: "Comma-separated actions: age, gender, race, emotion.")
    var actions: String = "emotion,age,gender,race"

    @Option(help: "Age model: deepface or age_net (default: deepface when present, else age_net).")
    var ageModel: String?

    @Option(help: "Gender model: deepface or gender_net (default: deepface when present, else gender_net).")
    var genderModel: String?

    @Option(help: "Race model: deepface.")
    var raceModel: String?

    @Option(help: "Emotion model: deepface or fer (default: deepface when present, else fer).")
    var emotionModel: String?

    @Option(help: "Write an annotated copy of the image here (.jpg or .png): each face's box and labels.")
    var output: String?

    @OptionGroup var detection: DetectionFlags

    @Flag(help: "Print deepface's JSON (a list, one object per face).")
    var json = false

    func run() throws {
        try Failure.run {
            var choices: [AttributeAction: String] = [:]
            for (action, name) in [(AttributeAction.age, ageModel), (.gender, genderModel), (.race, raceModel), (.emotion, emotionModel)] {
                if let name { choices[action] = name }
            }
            let options = AnalysisOptions(actions: try AttributeAction.parse(actions), detection: try detection.options(),
                                          models: choices)
            let analyzer = FaceAnalyzer(engine: detection.engine(images: 1))
            let plan = try analyzer.prepare(options)
            for (action, reason) in plan.unavailable.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                FileHandle.standardError.write(Data("warning: \(action.rawValue) not analysed: \(reason)\n".utf8))
            }
            if output != nil && images.count > 1 {
                throw FaceKitError.invalidInput("--output annotates one image; give one image with it")
            }
            var all: [[FaceAnalysis]] = []
            for image in images {
                let source = ImageSource(argument: image)
                let (original, result) = try analyzer.analyze(source, options: options, plan: plan)
                all.append(result.faces)
                if let output {
                    let annotated = try original.annotated(result.faces.enumerated().map { i, face in
                        (face.region, "\(i + 1): " + Self.label(face, actions: options.actions))
                    })
                    try annotated.write(to: output)
                }
                if !json { Self.printReadable(result.faces, image: image, actions: options.actions) }
            }
            if json {
                if all.count == 1 { try Output.json(all[0]) } else { try Output.json(all) }
            } else if let output {
                print("annotated: \(output)")
            }
        }
    }

    static func printReadable(_ faces: [FaceAnalysis], image: String, actions: [AttributeAction]) {
        print("\(faces.count) face(s) in \(image)")
        for (i, face) in faces.enumerated() {
            print("face \(i + 1): \(Output.box(face.region)) confidence \(face.faceConfidence)")
            for action in actions {
                let model = face.models[action.rawValue].map { " [\($0)]" } ?? ""
                if let reason = face.unavailable?[action.rawValue] {
                    print("  \(action.rawValue): unavailable (\(reason))")
                } else if action == .age, let age = face.age {
                    print("  age: \(age)\(model)")
                } else if let scores = face.scores(action), let dominant = face.dominant(action) {
                    let ranked = scores.sorted { $0.value > $1.value }.map { "\($0.key) \(Output.fixed($0.value, 2))%" }
                    print("  \(action.rawValue): \(dominant)\(model)  (\(ranked.joined(separator: ", ")))")
                }
            }
        }
    }

    /// A short label for the annotated image: "Man 31 happy".
    static func label(_ face: FaceAnalysis, actions: [AttributeAction]) -> String {
        actions.compactMap { face.dominant($0) }.joined(separator: " ")
    }
}
