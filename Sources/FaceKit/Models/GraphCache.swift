import CFaceKitNative
import Foundation

/// ONNX graphs rewritten for OpenCV 4.6 (see onnx_rewrite.cpp), kept under
/// `$FACEKIT_HOME/cache/onnx` so that the rewrite runs once per file.
///
/// An entry is named by the SHA-256 of the source file's bytes (from
/// DigestCache, so a file is hashed once until it changes), the input shape
/// and the rewriter's version.
public struct GraphCache: Sendable {
    /// Bump when the rewrite's output changes, so old entries are not reused.
    static let rewriterVersion = "r1"

    public let directory: URL
    let digests: DigestCache

    public init(store: ModelStore = ModelStore()) {
        directory = store.home.appendingPathComponent("cache/onnx")
        digests = DigestCache(store: store)
    }

    public init(directory: URL) {
        self.directory = directory
        digests = DigestCache(directory: directory.appendingPathComponent("stamps"))
    }

    /// What one preparation did, for load benchmarks.
    public struct Prepared: Sendable {
        public let path: String
        public let sourceSHA256: String
        public let rewritten: Bool
        public let outputShape: [Int]
        public let seconds: Double
    }

    /// The rewritten graph for `source` with input fixed to `inputShape`,
    /// made now when it is not cached. Errors name `model`.
    public func prepare(source: String, inputShape: [Int], model: String) throws -> Prepared {
        let start = Date()
        let fm = FileManager.default
        guard fm.fileExists(atPath: source) else {
            throw FaceKitError.modelFileMissing(model: model, file: source, fetchCommand: "facekit models pull \(model)")
        }
        do {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw FaceKitError.io("cannot create \(directory.path): \(error.localizedDescription)")
        }
        let sha = try digests.sha256(ofFile: source)
        let shapeTag = inputShape.map(String.init).joined(separator: "x")
        let target = directory.appendingPathComponent("\(sha)-\(shapeTag)-\(Self.rewriterVersion).onnx").path
        let meta = target + ".shape"
        if fm.fileExists(atPath: target), let text = try? String(contentsOfFile: meta, encoding: .utf8) {
            let shape = text.split(separator: "x").compactMap { Int($0) }
            return Prepared(path: target, sourceSHA256: sha, rewritten: false, outputShape: shape, seconds: Date().timeIntervalSince(start))
        }
        let report = try Self.rewrite(source: source, target: target, inputShape: inputShape, model: model)
        try? report.outputShape.map(String.init).joined(separator: "x").write(toFile: meta, atomically: true, encoding: .utf8)
        return Prepared(path: target, sourceSHA256: sha, rewritten: true, outputShape: report.outputShape,
                        seconds: Date().timeIntervalSince(start))
    }

    /// Removes every cached graph made from `source`.
    public func evict(source: String) throws {
        let sha = try digests.sha256(ofFile: source)
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasPrefix(sha) {
            try? fm.removeItem(at: directory.appendingPathComponent(name))
        }
    }

    public struct Report: Sendable {
        public let nodesIn: Int
        public let nodesOut: Int
        public let outputShape: [Int]
    }

    /// Parses and folds a file without writing it: the format check of an
    /// import (a corrupt, truncated or other model's file fails here).
    public static func check(source: String, inputShape: [Int], model: String) throws -> Report {
        try rewrite(source: source, target: nil, inputShape: inputShape, model: model)
    }

    static func rewrite(source: String, target: String?, inputShape: [Int], model: String) throws -> Report {
        var report = fk_onnx_report()
        let shape = inputShape.map(Int64.init)
        do {
            try Native.check { err in
                shape.withUnsafeBufferPointer { fk_onnx_rewrite(source, target, $0.baseAddress, Int32(shape.count), &report, err) }
            }
        } catch FaceKitError.modelLoadFailed(_, let reason) {
            throw FaceKitError.modelLoadFailed(model: model, reason: "\((source as NSString).lastPathComponent): \(reason)")
        }
        let rank = Int(report.output_rank)
        let dims = withUnsafeBytes(of: report.output_shape) { raw in Array(raw.bindMemory(to: Int64.self).prefix(rank)).map(Int.init) }
        return Report(nodesIn: Int(report.nodes_in), nodesOut: Int(report.nodes_out), outputShape: dims)
    }
}
