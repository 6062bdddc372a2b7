import FaceKit
import Foundation

/// Turns an image field into an ImageSource, and refuses what the server is
/// not configured to read. deepface opens any path and fetches any URL a
/// client names; here paths are read only under one folder, and only when
/// that folder is configured, and URLs are refused.
public struct ImageInputPolicy: Sendable {
    /// Folder that image paths are resolved in and confined to; nil: paths are refused.
    public let root: String?

    /// Paths refused: the default.
    public static let pathsOff = ImageInputPolicy(resolvedRoot: nil)

    private init(resolvedRoot: String?) { root = resolvedRoot }

    /// - Parameter root: an existing folder; its real path (symlinks resolved) is kept.
    public init(root: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue,
              let real = Self.realPath(root) else {
            throw ServerConfigurationError("the image root \(root) is not an existing folder")
        }
        self.root = real
    }

    func source(_ value: RequestFields.Value, field: String) throws(APIError) -> ImageSource {
        switch value {
        case .file(let data, let filename):
            guard !filename.isEmpty || !data.isEmpty else { throw .badRequest("no file uploaded for '\(field)'") }
            return .data(data, name: "\(field) (\(filename.isEmpty ? "upload" : filename))")
        case .string(let text):
            return try source(text, field: field)
        case .null:
            throw .badRequest("'\(field)' is empty")
        default:
            throw .badRequest("'\(field)' must be a base64 image, a data: URI or a file upload")
        }
    }

    func source(_ text: String, field: String) throws(APIError) -> ImageSource {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw .badRequest("'\(field)' is empty") }
        if trimmed.hasPrefix("data:") { return .base64(trimmed) }
        if let scheme = Self.urlScheme(trimmed) {
            throw .badRequest("'\(field)' is a \(scheme) URL; this server does not fetch image URLs"
                + (scheme == "http" || scheme == "https" ? " (start it with --allow-urls to fetch them)" : " of that scheme")
                + ". Send the image as base64 (with or without a data: prefix) or as a multipart file upload")
        }
        if Self.looksLikeBase64(trimmed) { return .base64(trimmed) }
        guard root != nil else {
            throw .badRequest("'\(field)' is neither base64 nor a data: URI, and image paths are off on this server "
                + "(start it with --image-root to read images from a folder)")
        }
        return .path(try confined(trimmed, field: field))
    }

    /// A folder under the root, as its real path (deepface's db_path).
    func folder(_ text: String, field: String) throws(APIError) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw .badRequest("'\(field)' is empty") }
        guard root != nil else {
            throw .badRequest("'\(field)' names a folder, and image paths are off on this server "
                + "(start it with --image-root to read images from a folder)")
        }
        if Self.urlScheme(trimmed) != nil { throw .badRequest("'\(field)' must be a folder under the image root, not a URL") }
        let real = try confined(trimmed, field: field)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: real, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .badRequest("'\(field)': not a folder under the image root: \(trimmed)")
        }
        return real
    }

    /// The real path of `trimmed` (relative to the root, or absolute), when
    /// it exists and lies under the root.
    private func confined(_ trimmed: String, field: String) throws(APIError) -> String {
        guard let root else { throw .badRequest("'\(field)': image paths are off on this server") }
        let candidate = trimmed.hasPrefix("/") ? trimmed : root + "/" + trimmed
        // Judged on the spelled path first, so that whether a file outside the
        // root exists is never told to the client (and a ".." escape reads the
        // same however deep the root sits); then on the real path, so that a
        // link inside the root that points out of it is refused too.
        guard Self.isUnder(root, Self.lexicallyNormalised(candidate)) else {
            throw .badRequest("'\(field)': image path is outside the image root: \(trimmed)")
        }
        guard let real = Self.realPath(candidate) else {
            throw .badRequest("'\(field)': image path not found under the image root: \(trimmed)")
        }
        guard Self.isUnder(root, real) else {
            throw .badRequest("'\(field)': image path is outside the image root: \(trimmed)")
        }
        return real
    }

    static func isUnder(_ root: String, _ path: String) -> Bool {
        path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }

    /// An absolute path with "." and ".." folded away, without touching the
    /// file system; ".." at "/" stays at "/", as the kernel does.
    static func lexicallyNormalised(_ absolute: String) -> String {
        var parts: [Substring] = []
        for part in absolute.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": _ = parts.popLast()
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// `scheme://` with a scheme of letters, digits, + - . (RFC 3986).
    static func urlScheme(_ text: String) -> String? {
        guard let range = text.range(of: "://") else { return nil }
        let scheme = text[..<range.lowerBound]
        guard let first = scheme.first, first.isLetter,
              scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) else { return nil }
        return scheme.lowercased()
    }

    /// Bare base64: only the base64 alphabet, padded to a multiple of 4, and
    /// longer than any plausible file name. A path with a dot or an
    /// extension never qualifies.
    static func looksLikeBase64(_ text: String) -> Bool {
        var count = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="):
                count += 1
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: " "), UInt8(ascii: "\t"):
                continue
            default:
                return false
            }
        }
        return count >= 64 && count % 4 == 0
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

public struct ServerConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
