import FaceKit
import FaceKitStore
import Foundation

/// Everything `facekit serve` can set. The defaults are the safe ones: bound
/// to loopback, no image paths, no URLs.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 5005
    /// Accepted API keys; empty means no authentication, allowed on loopback only.
    public var apiKeys: APIKeys = APIKeys([])
    public var images = ImageInputPolicy.pathsOff
    /// Image URLs: refused unless enabled, and then only to public addresses
    /// unless private ones are allowed too.
    public var urls = URLFetchPolicy()
    /// The face store behind /register, /search and /identities; nil: those
    /// routes answer 501. (/find keeps its own index inside each folder.)
    public var store: (any VectorStore)?
    /// Used when a request names no model_name / detector_backend; loaded at start.
    public var defaultModel = "SFace"
    public var defaultDetector = DetectorBackend.yunet
    /// Engine jobs run at once; each also runs its images side by side.
    public var workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Jobs that may wait for a worker before new ones are refused with 503.
    public var queueDepth = 64
    /// Largest request body; larger ones get 413 before the body is read.
    public var maxBodyBytes = 16 << 20
    /// Longest a request may wait and run, in seconds; then 504.
    public var requestTimeout = 30.0
    public var maxPixels = ImageLoader.defaultMaxPixels

    public init() {}

    /// Refuses a configuration that would expose the engine to the network
    /// without keys.
    public func validate() throws {
        if !Self.isLoopback(host) && apiKeys.isEmpty {
            throw ServerConfigurationError(
                "refusing to listen on \(host) without API keys: anything but loopback needs them. "
                + "Give --api-keys-file FILE (one key per line) or set FACEKIT_API_KEYS=key1,key2, "
                + "or bind to 127.0.0.1")
        }
        guard (1...65535).contains(port) || port == 0 else { throw ServerConfigurationError("port \(port) is out of range") }
        guard workers >= 1, queueDepth >= 0, maxBodyBytes > 0, requestTimeout > 0 else {
            throw ServerConfigurationError("workers, body limit and timeout must be positive and the queue depth not negative")
        }
        _ = try RecognitionModels.named(defaultModel)
    }

    /// Loopback names and addresses: localhost, 127.0.0.0/8, ::1.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let octets = h.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}

/// The accepted API keys. Compared in time that does not depend on where a
/// guess first differs, so keys cannot be found byte by byte.
public struct APIKeys: Sendable {
    private let keys: [[UInt8]]

    public init(_ keys: [String]) {
        self.keys = keys.map { Array($0.utf8) }.filter { !$0.isEmpty }
    }

    public var isEmpty: Bool { keys.isEmpty }
    public var count: Int { keys.count }

    public func accepts(_ candidate: String) -> Bool {
        let given = Array(candidate.utf8)
        var found = false
        for key in keys {
            var difference = UInt8(key.count == given.count ? 0 : 1)
            for i in 0..<key.count { difference |= key[i] ^ (i < given.count ? given[i] : 0) }
            found = found || difference == 0
        }
        return found
    }

    /// One key per line; blank lines and lines starting with # are skipped.
    public static func load(file: String) throws -> APIKeys {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw ServerConfigurationError("cannot read the API keys file \(file): \(error.localizedDescription)")
        }
        let keys = text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
        guard !keys.isEmpty else { throw ServerConfigurationError("the API keys file \(file) holds no keys") }
        return APIKeys(keys)
    }

    /// FACEKIT_API_KEYS: keys separated by commas or whitespace.
    public static func parse(environment value: String) -> APIKeys {
        APIKeys(value.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init))
    }

    public static func + (a: APIKeys, b: APIKeys) -> APIKeys {
        APIKeys((a.keys + b.keys).map { String(decoding: $0, as: UTF8.self) })
    }
}
