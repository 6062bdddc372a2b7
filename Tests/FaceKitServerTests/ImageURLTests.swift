import FaceKit
@testable import FaceKitServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import XCTest

/// Image URLs: off by default; when on, private addresses refused (also
/// spelled as IPv6 or IPv4-mapped) unless allowed; a real local HTTP server
/// serving dataset images; oversized, slow, failing and redirecting answers.
final class ImageURLTests: XCTestCase {
    func testAddressKinds() {
        let v4: [(String, AddressKind)] = [
            ("127.0.0.1", .loopback), ("127.8.9.10", .loopback), ("10.1.2.3", .privateUse), ("172.16.0.1", .privateUse),
            ("172.31.255.255", .privateUse), ("172.32.0.1", .global), ("192.168.1.1", .privateUse), ("169.254.169.254", .linkLocal),
            ("100.64.0.1", .privateUse), ("0.0.0.0", .unspecified), ("224.0.0.1", .multicast), ("255.255.255.255", .reserved),
            ("8.8.8.8", .global), ("93.184.216.34", .global),
        ]
        let v6: [(String, AddressKind)] = [
            ("::1", .loopback), ("::", .unspecified), ("fe80::1", .linkLocal), ("fd12:3456::1", .uniqueLocal),
            ("fc00::1", .uniqueLocal), ("ff02::1", .multicast), ("::ffff:127.0.0.1", .loopback), ("::ffff:10.0.0.1", .privateUse),
            ("::ffff:8.8.8.8", .global), ("64:ff9b::a9fe:a9fe", .linkLocal), ("2002:7f00:1::", .loopback),
            ("2001:4860:4860::8888", .global),
        ]
        for (text, kind) in v4 + v6 {
            XCTAssertEqual(AddressKind.of(try! SocketAddress(ipAddress: text, port: 80)), kind, text)
        }
    }

    /// A local origin server: dataset images, a body above any small limit
    /// (with and without a length), a slow answer, a redirect and a 404.
    static func origin() throws -> some ApplicationProtocol {
        let img1 = try Fixtures.bytes("img1.jpg"), img2 = try Fixtures.bytes("img2.jpg")
        let router = Router()
        router.get("/img1.jpg") { _, _ in Response(status: .ok, headers: [.contentType: "image/jpeg"], body: .init(byteBuffer: ByteBuffer(bytes: img1))) }
        router.get("/img2.jpg") { _, _ in Response(status: .ok, headers: [.contentType: "image/jpeg"], body: .init(byteBuffer: ByteBuffer(bytes: img2))) }
        router.get("/to-img2") { _, _ in Response(status: .found, headers: [.location: "/img2.jpg"]) }
        router.get("/loop") { _, _ in Response(status: .found, headers: [.location: "/loop"]) }
        router.get("/big") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(repeating: 0xFF, count: 300_000))) }
        router.get("/big-stream") { _, _ in
            // No Content-Length: chunked, so only counting the bytes can stop it.
            Response(status: .ok, body: .init { writer in
                for _ in 0..<100 { try await writer.write(ByteBuffer(repeating: 0xFF, count: 10_000)) }
                try await writer.finish(nil)
            })
        }
        router.get("/slow") { _, _ in
            try await Task.sleep(for: .seconds(5))
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: img1)))
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    static func urlConfig(allowPrivate: Bool) -> ServerConfiguration {
        Fixtures.configuration {
            $0.urls.enabled = true
            $0.urls.allowPrivate = allowPrivate
            $0.urls.maxBytes = 200_000
            $0.urls.timeout = 1
        }
    }

    static func post(_ client: some TestClientProtocol, _ uri: String, _ object: [String: Any]) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .post, headers: Body.jsonHeaders, body: try Body.json(object))
    }

    func testPrivateAddressesAreRefusedWhenURLsAreOn() async throws {
        try await Self.origin().test(.live) { origin in
            let port = try XCTUnwrap(origin.port)
            try await Fixtures.withService(Self.urlConfig(allowPrivate: false)) { client, _ in
                for url in ["http://127.0.0.1:\(port)/img1.jpg", "http://localhost:\(port)/img1.jpg", "http://[::1]:\(port)/img1.jpg",
                            "http://[::ffff:127.0.0.1]:\(port)/img1.jpg", "http://169.254.169.254/latest/meta-data",
                            "http://10.0.0.1/x.jpg", "http://0.0.0.0:\(port)/img1.jpg", "https://192.168.0.1/x.jpg"] {
                    let r = try await Self.post(client, "/represent", ["img": url])
                    XCTAssertEqual(r.status, .badRequest, "\(url): \(r.errorMessage)")
                    XCTAssertTrue(r.errorMessage.contains("--allow-private-urls"), "\(url): \(r.errorMessage)")
                }
                for (url, message) in [("ftp://127.0.0.1/x.jpg", "does not fetch"), ("http://user:pw@127.0.0.1/x.jpg", "credentials"),
                                       ("http:///x.jpg", "no host")] {
                    let r = try await Self.post(client, "/represent", ["img": url])
                    XCTAssertEqual(r.status, .badRequest, "\(url): \(r.errorMessage)")
                    XCTAssertTrue(r.errorMessage.contains(message), "\(url): \(r.errorMessage)")
                }
            }
        }
    }

    func testFetchesFromALocalServerWhenPrivateIsAllowed() async throws {
        try await Self.origin().test(.live) { origin in
            let base = "http://127.0.0.1:\(try XCTUnwrap(origin.port))"
            var config = Self.urlConfig(allowPrivate: true)
            config.urls.maxBytes = nil  // the body limit, 16 MB
            try await Fixtures.withService(config) { client, _ in
                var r = try await Self.post(client, "/verify", ["img1": "\(base)/img1.jpg", "img2": "\(base)/to-img2"])
                XCTAssertEqual(r.status, .ok, r.errorMessage)
                XCTAssertEqual(try r.object()["verified"] as? Bool, true)
                let local = try Fixtures.engine.verify(.path(Fixtures.dataset.appendingPathComponent("img1.jpg").path),
                                                       .path(Fixtures.dataset.appendingPathComponent("img2.jpg").path),
                                                       model: "SFace", options: .init(detection: .init(detector: .yunet)))
                XCTAssertEqual(try XCTUnwrap(try r.object()["distance"] as? Double), local.distance, accuracy: 1e-9)

                r = try await Self.post(client, "/represent", ["img": "http://localhost:\(try XCTUnwrap(origin.port))/img1.jpg"])
                XCTAssertEqual(r.status, .ok, r.errorMessage)
            }
        }
    }

    func testOversizedSlowAndFailingAnswersAreCutOff() async throws {
        try await Self.origin().test(.live) { origin in
            let base = "http://127.0.0.1:\(try XCTUnwrap(origin.port))"
            try await Fixtures.withService(Self.urlConfig(allowPrivate: true)) { client, _ in
                for (path, status, message) in [
                    ("/big", HTTPResponse.Status.unprocessableContent, "larger than the limit of 200000 bytes"),
                    ("/big-stream", .unprocessableContent, "larger than the limit of 200000 bytes"),
                    ("/missing.jpg", .unprocessableContent, "answered HTTP 404"),
                    ("/loop", .unprocessableContent, "redirects more"),
                ] {
                    let r = try await Self.post(client, "/represent", ["img": base + path])
                    XCTAssertEqual(r.status, status, "\(path): \(r.errorMessage)")
                    XCTAssertTrue(r.errorMessage.contains(message), "\(path): \(r.errorMessage)")
                }
                let start = ContinuousClock.now
                let r = try await Self.post(client, "/represent", ["img": base + "/slow"])
                XCTAssertEqual(r.status, .gatewayTimeout, r.errorMessage)
                XCTAssertTrue(r.errorMessage.contains("within 1.0 s"), r.errorMessage)
                XCTAssertLessThan(ContinuousClock.now - start, .seconds(4), "cut off at the 1 s limit, not after the 5 s answer")

                // Nothing listens on port 1.
                let closed = try await Self.post(client, "/represent", ["img": "http://127.0.0.1:1/x.jpg"])
                XCTAssertEqual(closed.status, .badGateway, closed.errorMessage)
            }
        }
    }
}
