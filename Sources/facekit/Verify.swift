import ArgumentParser
import FaceKit
import Foundation

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify whether two images show the same person; or one base image against many.",
        discussion: """
        With two images, prints deepface's verify result. With more, the first is the base and is \
        compared with each of the others. With several models (--model SFace,Dlib), prints a \
        comparison table: the way to choose a model for your own photos.
        """)

    @Argument(help: "Image paths (or data: URIs). The first is the base image.")
    var images: [String]

    @Option(name: [.short, .long], help: "Recognition model(s), comma separated: VGG-Face, Facenet, Facenet512, ArcFace, SFace, GhostFaceNet, OpenFace, DeepID, Dlib.")
    var model: String = "SFace"

    @OptionGroup var match: MatchFlags

    @OptionGroup var detection: DetectionFlags

    @OptionGroup var weights: WeightsFlag

    @Flag(help: "Print JSON.")
    var json = false

    func validate() throws {
        if images.count < 2 { throw ValidationError("give at least two images: BASE IMAGE [IMAGE ...]") }
    }

    func run() throws {
        try Failure.run {
            let named = model.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let options = FaceEngine.VerifyOptions(metric: try match.distanceMetric(), threshold: match.threshold,
                                                   detection: try detection.options())
            let engine = detection.engine(weights: try weights.map(models: named), images: images.count)
            // With several models, the ones whose files are here run; each
            // missing one is named with the command that fetches it.
            var models: [String] = []
            var missing: [FaceKitError] = []
            for name in named {
                do {
                    try engine.prepare(detector: .skip, models: [name])
                    models.append(name)
                } catch let error as FaceKitError {
                    guard named.count > 1, case .modelFileMissing = error else { throw error }
                    Failure.printError(error.description)
                    missing.append(error)
                }
            }
            if models.isEmpty, let first = missing.first { throw first }
            ProcessMemory.reuseImageBuffers()
            let base = ImageSource(argument: images[0])
            let others = images.dropFirst().map(ImageSource.init(argument:))
            let results = try engine.verify(base: base, against: Array(others), models: models, options: options)
            let failures = results.flatMap { $0 }.compactMap { r -> FaceKitError? in
                if case .failure(let e) = r { return e }
                return nil
            }
            if json {
                try printJSON(results, models: models)
            } else {
                printText(results, models: models)
            }
            if let first = failures.first ?? missing.first {
                if !json { Failure.printError(first.description) }
                throw ExitCode(Failure.exitCode(for: first))
            }
        }
    }

    private func printJSON(_ results: [[Result<VerificationResult, FaceKitError>]], models: [String]) throws {
        if results.count == 1 && models.count == 1, case .success(let r) = results[0][0] {
            try Output.json(r)
            return
        }
        var rows: [PairJSON] = []
        for (i, perModel) in results.enumerated() {
            for outcome in perModel {
                switch outcome {
                case .success(let r): rows.append(PairJSON(img1_path: images[0], img2_path: images[i + 1], result: r, error: nil))
                case .failure(let e): rows.append(PairJSON(img1_path: images[0], img2_path: images[i + 1], result: nil, error: e.description))
                }
            }
        }
        try Output.json(rows)
    }

    private func printText(_ results: [[Result<VerificationResult, FaceKitError>]], models: [String]) {
        if results.count == 1 && models.count == 1, case .success(let r) = results[0][0] {
            print("\(images[0]) vs \(images[1]): \(r.verified ? "same person" : "different people")")
            print("  model \(r.model), detector \(r.detectorBackend), metric \(r.similarityMetric)")
            print("  distance \(Output.fixed(r.distance)) (threshold \(r.threshold)), similarity \(Output.fixed(r.similarity)), confidence \(Output.fixed(r.confidence, 2))%")
            print("  img1 face: \(Output.box(r.facialAreas.img1)); img2 face: \(Output.box(r.facialAreas.img2))")
            return
        }
        var rows: [[String]] = []
        for (i, perModel) in results.enumerated() {
            for (m, outcome) in perModel.enumerated() {
                switch outcome {
                case .success(let r):
                    rows.append([images[i + 1], models[m], Output.fixed(r.distance), Output.fixed(r.similarity),
                                 "\(r.threshold)", Output.fixed(r.confidence, 2), r.verified ? "yes" : "no"])
                case .failure(let e):
                    rows.append([images[i + 1], models[m], "-", "-", "-", "-", "error: \(e)"])
                }
            }
        }
        print("base: \(images[0])  detector: \(detection.detector)  metric: \(match.metric)")
        print(Output.table(["image", "model", "distance", "similarity", "threshold", "confidence", "match"], rows))
    }

    struct PairJSON: Encodable {
        let img1_path: String
        let img2_path: String
        let result: VerificationResult?
        let error: String?

        func encode(to encoder: Encoder) throws {
            // The result's own keys sit next to the paths, as one flat object.
            try result?.encode(to: encoder)
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(img1_path, forKey: .img1)
            try c.encode(img2_path, forKey: .img2)
            try c.encodeIfPresent(error, forKey: .error)
        }

        enum Key: String, CodingKey { case img1 = "img1_path", img2 = "img2_path", error }
    }
}
