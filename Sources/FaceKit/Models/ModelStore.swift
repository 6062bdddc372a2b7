import CFaceKitNative
import Foundation

/// The folder where model files live: `$FACEKIT_HOME/models`, by default
/// `~/.facekit/models`. It only answers where a file is and whether it can
/// be trusted; fetching is ModelFetcher's job.
public struct ModelStore: Sendable {
    public let home: URL

    public init(home: URL? = nil) {
        if let home {
            self.home = home
        } else if let env = ProcessInfo.processInfo.environment["FACEKIT_HOME"], !env.isEmpty {
            self.home = URL(fileURLWithPath: env)
        } else {
            self.home = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".facekit")
        }
    }

    public var modelsDirectory: URL { home.appendingPathComponent("models") }

    public func url(for file: ModelFile) -> URL { modelsDirectory.appendingPathComponent(file.fileName) }

    public func isPresent(_ file: ModelFile) -> Bool {
        FileManager.default.fileExists(atPath: url(for: file).path)
    }

    /// The path of a file a model needs, or a typed error that names the
    /// command which fetches it.
    public func require(_ file: ModelFile, for model: String) throws -> String {
        let path = url(for: file).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw FaceKitError.modelFileMissing(model: model, file: path, fetchCommand: "facekit models pull \(model)")
        }
        return path
    }

    public enum Status: Sendable, Equatable {
        case missing
        case verified(origin: String)
        case unknownDigest(sha256: String, size: Int64)
        /// A file with no published digest that passed its format check.
        case formatChecked(sha256: String)
        /// A file with no published digest that failed its format check.
        case invalidFormat(reason: String)
    }

    /// Checks a present file against the registry's size and SHA-256; a file
    /// whose publisher gives no digest against the digest recorded when it
    /// came in.
    public func status(of file: ModelFile) throws -> Status {
        let path = url(for: file).path
        guard FileManager.default.fileExists(atPath: path) else { return .missing }
        let status = try Self.check(path: path, against: file)
        if case .formatChecked(let sha) = status, let recorded = recordedDigest(of: file) {
            return recorded == sha
                ? .verified(origin: "format checked when it came in, sha256 recorded then (no published digest)")
                : .unknownDigest(sha256: sha, size: (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? -1)
        }
        return status
    }

    func digestRecord(for file: ModelFile) -> URL { modelsDirectory.appendingPathComponent(file.fileName + ".sha256") }

    func recordedDigest(of file: ModelFile) -> String? {
        (try? String(contentsOf: digestRecord(for: file), encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func check(path: String, against file: ModelFile) throws -> Status {
        if file.trustOnFirstUse { return try checkFormat(path: path, of: file) }
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? -1
        // A file whose publisher gives no digest (deepface's own weights)
        // cannot be pinned; its loader is then the only check.
        if file.digests.isEmpty { return .verified(origin: "not pinned: no published digest (\(size) bytes)") }
        // Size first: it catches a truncated download or a Git LFS pointer
        // without reading the whole file.
        guard file.digests.contains(where: { $0.size == size || $0.size == 0 }) else {
            return .unknownDigest(sha256: "", size: size)
        }
        let sha = try Native.sha256(ofFile: path)
        if let digest = file.accepts(sha256: sha) { return .verified(origin: digest.origin) }
        return .unknownDigest(sha256: sha, size: size)
    }

    /// The check of a file whose publisher gives no digest: it must parse as
    /// its format, with the input and output sizes of its model.
    static func checkFormat(path: String, of file: ModelFile) throws -> Status {
        let model = RecognitionModels.all.first { $0.formats.contains(file) }
        switch file.format {
        case .onnx?:
            guard let model else { return .invalidFormat(reason: "no model uses \(file.fileName)") }
            do {
                let report = try GraphCache.check(source: path, inputShape: [1, model.inputHeight, model.inputWidth, 3], model: model.name)
                if !report.outputShape.isEmpty, report.outputShape.reduce(1, *) != model.dimensions {
                    return .invalidFormat(reason: "outputs \(report.outputShape.map(String.init).joined(separator: "x")) values, \(model.name) gives \(model.dimensions)")
                }
            } catch let error as FaceKitError {
                return .invalidFormat(reason: "\(error)")
            }
        case .kerasH5?:
            // HDF5's signature; the layer-by-layer check is the Keras loader's.
            guard let handle = FileHandle(forReadingAtPath: path) else { return .invalidFormat(reason: "cannot open") }
            defer { try? handle.close() }
            let head = (try? handle.read(upToCount: 8)) ?? Data()
            guard head == Data([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]) else {
                return .invalidFormat(reason: "not an HDF5 file")
            }
        case .dlibDat?, nil:
            return .invalidFormat(reason: "no format check for \(file.fileName)")
        }
        return .formatChecked(sha256: try Native.sha256(ofFile: path))
    }

    /// Installs a file accepted by its format check and records its digest,
    /// so that a later change to it is seen.
    func installUnpublished(_ source: URL, as file: ModelFile, sha256: String) throws {
        try install(source, as: file)
        do {
            try (sha256 + "\n").write(to: digestRecord(for: file), atomically: true, encoding: .utf8)
        } catch {
            throw FaceKitError.io("cannot record the digest of \(file.fileName): \(error.localizedDescription)")
        }
    }

    /// SHA-256 (lowercase hex) of any file: pipeline signatures name the
    /// exact model weights, and face stores tell changed images by content.
    public static func sha256(ofFile path: String) throws -> String {
        try Native.sha256(ofFile: path)
    }

    /// Moves a checked file into the store atomically, so that a reader never
    /// sees half a model.
    func install(_ source: URL, as file: ModelFile) throws {
        let fm = FileManager.default
        try fm.createDirectory(at: modelsDirectory, withIntermediateDirectories: true)
        let staging = modelsDirectory.appendingPathComponent(".\(file.fileName).\(UUID().uuidString)")
        try fm.copyItem(at: source, to: staging)
        let target = url(for: file)
        if fm.fileExists(atPath: target.path) {
            _ = try fm.replaceItemAt(target, withItemAt: staging)
        } else {
            try fm.moveItem(at: staging, to: target)
        }
    }

    public struct ImportReport: Sendable {
        public var imported: [String] = []
        public var alreadyPresent: [String] = []
        public var rejected: [(file: String, reason: String)] = []
    }

    /// Copies every known model file found in a folder (for example
    /// deepface's `~/.deepface/weights`) whose size and digest match the registry.
    public func importFiles(from directory: URL) throws -> ImportReport {
        var report = ImportReport()
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: directory.path, isDirectory: &isDir), isDir.boolValue else {
            throw FaceKitError.io("not a folder: \(directory.path)")
        }
        for file in ModelRegistry.all {
            let candidate = directory.appendingPathComponent(file.fileName)
            guard fm.fileExists(atPath: candidate.path) else { continue }
            switch try Self.check(path: candidate.path, against: file) {
            case .verified:
                if case .verified = try status(of: file) {
                    report.alreadyPresent.append(file.fileName)
                } else {
                    try install(candidate, as: file)
                    report.imported.append(file.fileName)
                }
            case .formatChecked(let sha):
                if recordedDigest(of: file) == sha, isPresent(file) {
                    report.alreadyPresent.append(file.fileName)
                } else {
                    try installUnpublished(candidate, as: file, sha256: sha)
                    report.imported.append(file.fileName)
                }
            case .unknownDigest(let sha, let size):
                report.rejected.append((file.fileName, "size \(size), sha256 \(sha.isEmpty ? "not computed" : sha) matches no known version"))
            case .invalidFormat(let reason):
                report.rejected.append((file.fileName, reason))
            case .missing:
                break
            }
        }
        return report
    }
}
