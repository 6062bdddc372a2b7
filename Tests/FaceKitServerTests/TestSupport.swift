import FaceKit
import FaceKitServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import XCTest

/// The dataset, one engine shared by every test (models load once), and
/// request bodies built the way clients build them.
enum Fixtures {
    static let dataset: URL = {
        if let env = ProcessInfo.processInfo.environment["FACEKIT_DATASET"] {
            return URL(fileURLWithPath: env)
        }
        // Tests/FaceKitServerTests/ -> repo -> ../shared/data/deepface-dataset
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("shared/data/deepface-dataset")
    }()

    static let engine = FaceEngine()

    static func bytes(_ name: String) throws -> Data {
        let url = dataset.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw TestFailure("dataset image missing: \(url.path) (set FACEKIT_DATASET)")
        }
        return try Data(contentsOf: url)
    }

    static func dataURI(_ name: String) throws -> String {
        "data:image/jpeg;base64," + (try bytes(name)).base64EncodedString()
    }

    /// A real PNG with no face in it: flat grey.
    static func blankPNG() throws -> Data {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("facekit-blank-\(UUID().uuidString).png").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Image(bgr: [UInt8](repeating: 128, count: 96 * 96 * 3), width: 96, height: 96).write(to: path)
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    static func configuration() -> ServerConfiguration { configuration { _ in } }

    static func configuration(_ change: (inout ServerConfiguration) throws -> Void) rethrows -> ServerConfiguration {
        var config = ServerConfiguration()
        config.workers = 2
        config.queueDepth = 8
        try change(&config)
        return config
    }

    /// Runs `body` against a service over the shared engine, and stops its
    /// engine threads afterwards.
    static func withService<R>(_ config: ServerConfiguration = configuration(), setup: TestingSetup = .router,
                               _ body: @escaping @Sendable (any TestClientProtocol, FaceKitService) async throws -> R) async throws -> R {
        let service = try FaceKitService(configuration: config, engine: engine)
        defer { service.shutdown() }
        return try await service.makeApplication().test(setup) { client in try await body(client, service) }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum Body {
    static func json(_ object: [String: Any]) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))
    }

    static let jsonHeaders: HTTPFields = [.contentType: "application/json"]

    struct Part {
        let name: String
        let filename: String?
        let data: Data
    }

    static let boundary = "facekit-test-boundary-7d1e"
    static let multipartHeaders: HTTPFields = [.contentType: "multipart/form-data; boundary=\(boundary)"]

    static func multipart(_ parts: [Part]) -> ByteBuffer {
        var out = Data()
        for part in parts {
            out.append(Data("--\(boundary)\r\n".utf8))
            var disposition = "Content-Disposition: form-data; name=\"\(part.name)\""
            if let filename = part.filename { disposition += "; filename=\"\(filename)\"" }
            out.append(Data("\(disposition)\r\n".utf8))
            if part.filename != nil { out.append(Data("Content-Type: application/octet-stream\r\n".utf8)) }
            out.append(Data("\r\n".utf8))
            out.append(part.data)
            out.append(Data("\r\n".utf8))
        }
        out.append(Data("--\(boundary)--\r\n".utf8))
        return ByteBuffer(bytes: out)
    }
}

extension TestResponse {
    func object() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any] else {
            throw TestFailure("not a JSON object: \(String(buffer: body))")
        }
        return object
    }

    var errorMessage: String {
        ((try? object())?["error"] as? String) ?? "<no error field: \(String(buffer: body))>"
    }
}
