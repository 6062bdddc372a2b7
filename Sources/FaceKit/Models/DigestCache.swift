import Foundation

/// SHA-256 of large files (model weights), remembered between processes.
///
/// Hashing a 500 MB file on every load would cost more than the work it
/// keys, so a stamp named by the file's path, size, modification time and
/// inode remembers the digest: a file changed in place gets a new stamp and
/// is hashed again. Used by the ONNX rewrite cache and by the face stores'
/// pipeline signatures.
public struct DigestCache: Sendable {
    public let directory: URL

    /// `$FACEKIT_HOME/cache/digests`.
    public init(store: ModelStore = ModelStore()) {
        directory = store.home.appendingPathComponent("cache/digests")
    }

    public init(directory: URL) {
        self.directory = directory
    }

    public func sha256(ofFile source: String) throws -> String {
        let attributes: [FileAttributeKey: Any]
        do {
            attributes = try FileManager.default.attributesOfItem(atPath: source)
        } catch {
            throw FaceKitError.io("cannot read \(source): \(error.localizedDescription)")
        }
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? -1
        let mtime = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let inode = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
        let absolute = URL(fileURLWithPath: source).standardizedFileURL.path
        let stamp = directory.appendingPathComponent(Self.hex("\(absolute)|\(size)|\(mtime)|\(inode)")).path
        if let known = try? String(contentsOfFile: stamp, encoding: .utf8), known.count == 64 { return known }
        let sha = try Native.sha256(ofFile: source)
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try? sha.write(toFile: stamp, atomically: true, encoding: .utf8)
        return sha
    }

    /// A short, stable file name for a stamp key (FNV-1a, 64 bits, twice
    /// with different seeds; a collision only costs a re-hash of the file
    /// since the stamp holds the digest, not the decision).
    static func hex(_ key: String) -> String {
        func fnv(_ seed: UInt64) -> UInt64 {
            var h = seed
            for b in key.utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 }
            return h
        }
        return String(format: "%016llx%016llx", fnv(0xcbf29ce484222325), fnv(0x84222325cbf29ce4))
    }
}
