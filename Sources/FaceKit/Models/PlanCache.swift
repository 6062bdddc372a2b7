import Foundation

/// Saved engine plans (fk_graph_open_plan), under `$FACEKIT_HOME/cache/plans`.
///
/// A plan is a network that runs on oneDNN, written once with its weights
/// already folded and reordered into the layouts the engine uses. Later
/// processes map the file instead of reading, translating and converting
/// the model: SFace loads in a third of the time, and the weights' pages
/// are shared by every worker and process instead of copied into each.
///
/// A plan is named by the SHA-256 of the model file it came from (through
/// DigestCache), the input shape, a tag for anything else that shapes the
/// network (a Keras architecture), and the build of FaceKit that wrote it:
/// the translator and the engine change with the code, so a plan is never
/// trusted across builds. Layouts that depend on the CPU are checked when
/// the plan opens; a stale plan is rebuilt from the model file.
/// `FACEKIT_PLANS=0` turns plans off.
public struct PlanCache: Sendable {
    public let directory: URL
    let digests: DigestCache
    let enabled: Bool

    public init(store: ModelStore = ModelStore()) {
        directory = store.home.appendingPathComponent("cache/plans")
        digests = DigestCache(store: store)
        enabled = ProcessInfo.processInfo.environment["FACEKIT_PLANS"] != "0"
    }

    /// The plan file for `source` at `inputShape`, whether or not it exists
    /// yet; nil when plans are off or the cache cannot be written. Plans of
    /// the same model from other builds are removed on the way.
    public func path(source: String, inputShape: [Int], tag: String = "") -> String? {
        guard enabled, let sha = try? digests.sha256(ofFile: source) else { return nil }
        return path(sha256: sha, inputShape: inputShape, tag: tag)
    }

    /// The plan files for `source` at each of `inputShapes`, its digest
    /// taken once; nil unless every one has a path.
    public func paths(source: String, inputShapes: [[Int]], tag: String = "") -> [String]? {
        guard enabled, let sha = try? digests.sha256(ofFile: source) else { return nil }
        let found = inputShapes.compactMap { path(sha256: sha, inputShape: $0, tag: tag) }
        return found.count == inputShapes.count ? found : nil
    }

    /// As `path(source:...)`, for a caller that already holds the digest.
    public func path(sha256: String, inputShape: [Int], tag: String = "") -> String? {
        guard enabled else { return nil }
        let fm = FileManager.default
        let safeTag = String(tag.map { $0.isLetter || $0.isNumber ? $0 : "_" })
        let prefix = "\(sha256)-\(inputShape.map(String.init).joined(separator: "x"))-\(safeTag)-"
        let name = prefix + Self.build + ".fkplan"
        let file = directory.appendingPathComponent(name)
        if fm.fileExists(atPath: file.path) { return file.path }
        do {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            return nil
        }
        for other in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] where other.hasPrefix(prefix) && other != name {
            try? fm.removeItem(at: directory.appendingPathComponent(other))
        }
        return file.path
    }

    /// Removes every plan made from `source`.
    public func evict(source: String) throws {
        let sha = try digests.sha256(ofFile: source)
        let fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasPrefix(sha) {
            try? fm.removeItem(at: directory.appendingPathComponent(name))
        }
    }

    /// This build of FaceKit: the running executable's size and modification
    /// time, with the version and the plan format. A rebuilt binary writes
    /// its own plans.
    static let build: String = {
        var key = "\(FaceKitVersion.string)|p1"
        if let exe = Bundle.main.executablePath,
           let attributes = try? FileManager.default.attributesOfItem(atPath: exe) {
            let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
            let mtime = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            key += "|\(exe)|\(size)|\(mtime)"
        }
        return String(DigestCache.hex(key).prefix(16))
    }()
}
