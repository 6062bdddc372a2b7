import CFaceKitNative
import Foundation

/// Where an image comes from: a file, bytes in memory, or base64 text (with
/// or without a `data:image/...;base64,` prefix).
public enum ImageSource: Sendable, Equatable {
    case path(String)
    case data(Data, name: String = "bytes")
    case base64(String)

    /// Reads a command-line style argument: `data:` URIs are base64, `-` is
    /// the bytes on standard input, anything else is a path.
    public init(argument: String) {
        if argument == "-" {
            self = .data(FileHandle.standardInput.readDataToEndOfFile(), name: "stdin")
        } else {
            self = argument.hasPrefix("data:") ? .base64(argument) : .path(argument)
        }
    }

    /// How the image is named in messages and results.
    public var name: String {
        switch self {
        case .path(let p): return p
        case .data(_, let name): return name
        case .base64: return "base64 image"
        }
    }
}

/// Turns an ImageSource into pixels, refusing what would be unsafe to decode.
public struct ImageLoader: Sendable {
    /// Largest accepted width x height. The default, 100 megapixels, covers
    /// any camera and stops decompression bombs (a 30000x30000 PNG would
    /// need 2.7 GB).
    public static let defaultMaxPixels = 100_000_000
    /// Largest accepted encoded size.
    public static let defaultMaxBytes = 256 << 20

    public var maxPixels: Int
    public var maxBytes: Int

    public init(maxPixels: Int = ImageLoader.defaultMaxPixels, maxBytes: Int = ImageLoader.defaultMaxBytes) {
        self.maxPixels = maxPixels
        self.maxBytes = maxBytes
    }

    public func load(_ source: ImageSource) throws -> Image {
        let bytes = try encodedBytes(source)
        return try decode(bytes, name: source.name)
    }

    /// Decodes into `canvas`, inside deepface's padding for detection (see
    /// DecodeCanvas); same pixels, same checks and errors as `load`.
    func load(_ source: ImageSource, into canvas: DecodeCanvas) throws -> Image {
        try decode(try encodedBytes(source), name: source.name, canvas: canvas)
    }

    public func decode(_ bytes: Data, name: String) throws -> Image {
        try decode(bytes, name: name, canvas: nil)
    }

    func decode(_ bytes: Data, name: String, canvas: DecodeCanvas?) throws -> Image {
        guard !bytes.isEmpty else { throw FaceKitError.imageUnreadable(source: name, reason: "the file is empty (0 bytes)") }
        var width: Int32 = 0, height: Int32 = 0
        var format = [CChar](repeating: 0, count: 16)
        do {
            try bytes.withUnsafeBytes { raw in
                try Native.check { fk_image_probe(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, &width, &height, &format, format.count, $0) }
            }
        } catch let error as FaceKitError {
            throw rename(error, name)
        }
        let pixels = Int(width) * Int(height)
        if pixels > maxPixels {
            throw FaceKitError.imageTooLarge(source: name, width: Int(width), height: Int(height), limit: maxPixels)
        }
        do {
            let handle = try bytes.withUnsafeBytes { raw in
                try Native.make { out, err in
                    let data = raw.bindMemory(to: UInt8.self).baseAddress
                    if let canvas { return fk_image_decode_padded(data, raw.count, Int64(maxPixels), canvas.handle, out, err) }
                    return fk_image_decode(data, raw.count, Int64(maxPixels), out, err)
                }
            }
            return Image(handle: handle)
        } catch let error as FaceKitError {
            throw rename(error, name)
        }
    }

    private func rename(_ error: FaceKitError, _ name: String) -> FaceKitError {
        if case .imageUnreadable(_, let reason) = error { return .imageUnreadable(source: name, reason: reason) }
        return error
    }

    func encodedBytes(_ source: ImageSource) throws -> Data {
        switch source {
        case .data(let data, _):
            guard data.count <= maxBytes else { throw tooManyBytes(source.name, data.count) }
            return data
        case .base64(let text):
            var payload = Substring(text)
            if payload.hasPrefix("data:") {
                guard let comma = payload.firstIndex(of: ",") else {
                    throw FaceKitError.invalidInput("base64 image: a data URI needs a comma before the payload")
                }
                payload = payload[payload.index(after: comma)...]
            }
            guard payload.utf8.count / 4 * 3 <= maxBytes else { throw tooManyBytes(source.name, payload.utf8.count / 4 * 3) }
            guard let data = Data(base64Encoded: String(payload), options: .ignoreUnknownCharacters), !data.isEmpty else {
                throw FaceKitError.invalidInput("base64 image: the text is not valid base64")
            }
            return data
        case .path(let path):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw FaceKitError.imageNotFound(path: path)
            }
            if isDirectory.boolValue { throw FaceKitError.imageUnreadable(source: path, reason: "it is a directory") }
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            guard size <= maxBytes else { throw tooManyBytes(path, size) }
            do {
                return try Data(contentsOf: URL(fileURLWithPath: path))
            } catch {
                throw FaceKitError.imageUnreadable(source: path, reason: "cannot read the file (\(error.localizedDescription))")
            }
        }
    }

    private func tooManyBytes(_ name: String, _ count: Int) -> FaceKitError {
        .imageUnreadable(source: name, reason: "\(count) bytes is above the limit of \(maxBytes) bytes")
    }
}
