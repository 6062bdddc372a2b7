import ArgumentParser
import FaceKit
import Foundation

/// Options shared by every command that detects faces (deepface's names).
struct DetectionFlags: ParsableArguments {
    @Option(name: [.short, .long], help: "Face detector: opencv, ssd, yunet, dlib, mtcnn or skip.")
    var detector: String = "yunet"

    @Flag(name: .customLong("no-align"), help: "Do not rotate faces on the eyes (deepface's align=False).")
    var noAlign = false

    @Option(help: "Grow each detected box by this percentage (deepface's expand_percentage).")
    var expandPercentage: Int = 0

    @Flag(name: .customLong("no-enforce-detection"), help: "Use the whole image when no face is found instead of failing.")
    var noEnforceDetection = false

    @Option(help: "Face crop: deepface (rotate on the eyes, deepface's decisions) or landmarks (5-point similarity; yunet and mtcnn).")
    var alignment: String = "deepface"

    @Option(help: "Refuse images above this many pixels (default 100000000, or FACEKIT_MAX_PIXELS).")
    var maxPixels: Int?

    @Option(help: "deepface's normalization of each face before the model: base (deepface's default), raw, Facenet, Facenet2018, VGGFace, VGGFace2 or ArcFace.")
    var normalization: String = "base"

    func options() throws -> DetectionOptions {
        DetectionOptions(detector: try DetectorBackend.named(detector), align: !noAlign,
                         expandPercentage: expandPercentage, enforceDetection: !noEnforceDetection,
                         alignment: try AlignmentMode.named(alignment),
                         normalization: try InputNormalization.named(normalization))
    }

    /// `images`: how many images the command works on, when it knows. Up to
    /// two run on one lane whose networks use every core; more run one lane
    /// per core, each network on one thread (FACEKIT_WORKERS decides when set).
    /// `bulk`: the command streams a folder of images (find, register --from,
    /// reindex); once its models are loaded, image buffers stay in the heap
    /// for the next image (ProcessMemory.keepImageBuffers) and each lane
    /// decodes into its own reusable canvas and runs its own copy of each
    /// network.
    func engine(weights: [String: String] = [:], images: Int? = nil, bulk: Bool = false) -> FaceEngine {
        let env = ProcessInfo.processInfo.environment["FACEKIT_MAX_PIXELS"].flatMap(Int.init)
        let loader = ImageLoader(maxPixels: maxPixels ?? env ?? ImageLoader.defaultMaxPixels)
        var loaded: @Sendable () -> Void = {}
        if bulk { loaded = { ProcessMemory.keepImageBuffers() } }
        if let images, images <= 2, ProcessInfo.processInfo.environment["FACEKIT_WORKERS"] == nil {
            return FaceEngine(loader: loader, workers: 1, weights: weights, keepDecodeCanvases: bulk, networksPerLane: bulk,
                              modelsLoaded: loaded)
        }
        return FaceEngine(loader: loader, weights: weights, keepDecodeCanvases: bulk, networksPerLane: bulk, modelsLoaded: loaded)
    }
}

/// How two faces are compared: the options verify, find and search share.
struct MatchFlags: ParsableArguments {
    @Option(help: "Distance metric: cosine, euclidean, euclidean_l2 or angular.")
    var metric: String = "cosine"

    @Option(help: "Decision threshold; default: deepface's threshold for the model and metric.")
    var threshold: Double?

    func distanceMetric() throws -> DistanceMetric { try DistanceMetric.named(metric) }
}

/// Maps a FaceKitError to its exit code and prints it; the one place that
/// decides how failures leave the process.
enum Failure {
    static func exitCode(for error: FaceKitError) -> Int32 {
        switch error.category {
        case .usage: return 64
        case .input: return 65
        case .notFound: return 66
        case .environment: return 69
        case .processing: return 70
        }
    }

    static func run(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as FaceKitError {
            printError(error.description)
            throw ExitCode(exitCode(for: error))
        }
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    }
}

enum Output {
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        print(String(decoding: data, as: UTF8.self))
    }

    /// Left-aligned columns for readable tables.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { c in all.map { $0[c].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { c, cell in c == row.count - 1 ? cell : cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func fixed(_ value: Double, _ places: Int = 4) -> String { String(format: "%.\(places)f", value) }

    static func point(_ p: Point?) -> String {
        guard let p else { return "-" }
        return "(\(Int(p.x)), \(Int(p.y)))"
    }

    static func box(_ a: FacialArea) -> String { "x=\(a.x) y=\(a.y) w=\(a.w) h=\(a.h)" }
}

/// `--weights PATH`: one model's weights from a file, as they are.
struct WeightsFlag: ParsableArguments {
    @Option(help: "Run the model from this weight file (.onnx; .h5 for deepface's Keras files), without digest checks. One model only.")
    var weights: String?

    func map(models: [String]) throws -> [String: String] {
        guard let weights else { return [:] }
        guard models.count == 1 else {
            throw FaceKitError.invalidInput("--weights gives the file of one model; name exactly one with --model")
        }
        let path = (weights as NSString).expandingTildeInPath
        guard FileManager.default.fileExists(atPath: path) else {
            throw FaceKitError.modelFileMissing(model: models[0], file: path, fetchCommand: "check the --weights path")
        }
        return [try RecognitionModels.named(models[0]).name: path]
    }
}
