import FaceKit
import FaceKitServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import XCTest

/// deepface's routes with real models on the dataset: the response keys and
/// the decisions, through the router without sockets.
final class RouteTests: XCTestCase {
    /// deepface 0.0.103's verify dict, plus FaceKit's similarity.
    static let verifyKeys: Set<String> = [
        "verified", "distance", "threshold", "confidence", "model", "detector_backend", "similarity_metric",
        "facial_areas", "time", "similarity",
    ]

    func testVerifySamePersonFromDataURIs() async throws {
        let body = try Body.json([
            "img1": try Fixtures.dataURI("img1.jpg"), "img2": try Fixtures.dataURI("img2.jpg"),
            "model_name": "SFace", "detector_backend": "yunet",
        ])
        try await Fixtures.withService { client, _ in
            let r = try await client.execute(uri: "/verify", method: .post, headers: Body.jsonHeaders, body: body)
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            let o = try r.object()
            XCTAssertEqual(Set(o.keys), Self.verifyKeys)
            XCTAssertEqual(o["verified"] as? Bool, true)
            XCTAssertEqual(o["model"] as? String, "SFace")
            XCTAssertEqual(o["detector_backend"] as? String, "yunet")
            XCTAssertEqual(o["similarity_metric"] as? String, "cosine")
            XCTAssertEqual(o["threshold"] as? Double, 0.593)
            let distance = try XCTUnwrap(o["distance"] as? Double)
            XCTAssertLessThan(distance, 0.593)
            let areas = try XCTUnwrap(o["facial_areas"] as? [String: Any])
            XCTAssertEqual(Set(areas.keys), ["img1", "img2"])
            let area = try XCTUnwrap(areas["img1"] as? [String: Any])
            for key in ["x", "y", "w", "h", "left_eye", "right_eye"] { XCTAssertNotNil(area[key], key) }
        }
    }

    /// The same pair through the server and through the library give the same answer.
    func testVerifyGivesTheLibrarysAnswer() async throws {
        let direct = try Fixtures.engine.verify(
            .data(try Fixtures.bytes("img1.jpg")), .data(try Fixtures.bytes("img3.jpg")), model: "SFace",
            options: .init(detection: .init(detector: .yunet)))
        XCTAssertFalse(direct.verified)
        let body = Body.multipart([
            .init(name: "img1", filename: "img1.jpg", data: try Fixtures.bytes("img1.jpg")),
            .init(name: "img2", filename: "img3.jpg", data: try Fixtures.bytes("img3.jpg")),
            .init(name: "model_name", filename: nil, data: Data("SFace".utf8)),
            .init(name: "detector_backend", filename: nil, data: Data("yunet".utf8)),
        ])
        try await Fixtures.withService { client, _ in
            let r = try await client.execute(uri: "/verify", method: .post, headers: Body.multipartHeaders, body: body)
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            let o = try r.object()
            XCTAssertEqual(o["verified"] as? Bool, false)
            XCTAssertEqual(try XCTUnwrap(o["distance"] as? Double), direct.distance, accuracy: 1e-12)
            XCTAssertEqual(try XCTUnwrap(o["confidence"] as? Double), direct.confidence, accuracy: 1e-9)
        }
    }

    /// deepface's older field names, bare base64 without a data: prefix, and
    /// the server's defaults (SFace, yunet) when the request names none.
    func testVerifyLegacyNamesBareBase64AndDefaults() async throws {
        let body = try Body.json([
            "img1_path": try Fixtures.bytes("img1.jpg").base64EncodedString(),
            "img2_path": try Fixtures.bytes("img2.jpg").base64EncodedString(),
        ])
        try await Fixtures.withService { client, _ in
            let r = try await client.execute(uri: "/verify", method: .post, headers: Body.jsonHeaders, body: body)
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            let o = try r.object()
            XCTAssertEqual(o["verified"] as? Bool, true)
            XCTAssertEqual(o["model"] as? String, "SFace")
            XCTAssertEqual(o["detector_backend"] as? String, "yunet")
        }
    }

    func testRepresentGivesDeepfacesShapeAndTheLibrarysEmbedding() async throws {
        let direct = try Fixtures.engine.represent(.data(try Fixtures.bytes("img1.jpg")), model: "SFace",
                                                   options: .init(detector: .yunet))
        let body = try Body.json(["img": try Fixtures.dataURI("img1.jpg"), "model_name": "SFace", "detector_backend": "yunet"])
        try await Fixtures.withService { client, _ in
            let r = try await client.execute(uri: "/represent", method: .post, headers: Body.jsonHeaders, body: body)
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            let results = try XCTUnwrap(try r.object()["results"] as? [[String: Any]])
            XCTAssertEqual(results.count, direct.count)
            let first = try XCTUnwrap(results.first)
            XCTAssertEqual(Set(first.keys), ["embedding", "facial_area", "face_confidence"])
            let embedding = try XCTUnwrap(first["embedding"] as? [Double])
            XCTAssertEqual(embedding.count, 128)
            for (a, b) in zip(embedding, direct[0].embedding) { XCTAssertEqual(a, Double(b), accuracy: 1e-6) }
            let area = try XCTUnwrap(first["facial_area"] as? [String: Any])
            XCTAssertEqual(area["w"] as? Int, direct[0].facialArea.w)
        }
    }

    func testRepresentMaxFacesAndFormFlags() async throws {
        // couple.jpg has two faces; max_faces keeps the largest.
        let body = Body.multipart([
            .init(name: "img", filename: "couple.jpg", data: try Fixtures.bytes("couple.jpg")),
            .init(name: "max_faces", filename: nil, data: Data("1".utf8)),
            .init(name: "align", filename: nil, data: Data("false".utf8)),
        ])
        try await Fixtures.withService { client, _ in
            let r = try await client.execute(uri: "/represent", method: .post, headers: Body.multipartHeaders, body: body)
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            XCTAssertEqual((try r.object()["results"] as? [Any])?.count, 1)
        }
    }

    func testExtractBoxesEachFace() async throws {
        let body = try Body.json(["img": try Fixtures.dataURI("couple.jpg"), "detector_backend": "yunet"])
        try await Fixtures.withService { client, _ in
            let r = try await client.execute(uri: "/extract", method: .post, headers: Body.jsonHeaders, body: body)
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            let results = try XCTUnwrap(try r.object()["results"] as? [[String: Any]])
            XCTAssertEqual(results.count, 2)
            for face in results { XCTAssertEqual(Set(face.keys), ["facial_area", "confidence"]) }
        }
    }

    func testImagePathsUnderTheRootOnly() async throws {
        let config = try Fixtures.configuration { $0.images = try ImageInputPolicy(root: Fixtures.dataset.path) }
        try await Fixtures.withService(config) { client, _ in
            let inside = try Body.json(["img1": "img1.jpg", "img2": Fixtures.dataset.appendingPathComponent("img2.jpg").path])
            var r = try await client.execute(uri: "/verify", method: .post, headers: Body.jsonHeaders, body: inside)
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            XCTAssertEqual(try r.object()["verified"] as? Bool, true)

            for outside in ["/etc/passwd", "../../../../etc/passwd", "/etc/hostname", "/etc/no-such-file", "img1.jpg/../../../../../../../../../../../etc/passwd"] {
                let body = try Body.json(["img1": outside, "img2": "img2.jpg"])
                r = try await client.execute(uri: "/verify", method: .post, headers: Body.jsonHeaders, body: body)
                XCTAssertEqual(r.status, .badRequest, outside)
                XCTAssertTrue(r.errorMessage.contains("outside the image root"), r.errorMessage)
            }
            let missing = try Body.json(["img": "no-such-image.jpg"])
            r = try await client.execute(uri: "/represent", method: .post, headers: Body.jsonHeaders, body: missing)
            XCTAssertEqual(r.status, .badRequest)
            XCTAssertTrue(r.errorMessage.contains("not found"), r.errorMessage)
        }
    }

    /// A symlink inside the root that leads out of it is outside.
    func testSymlinkOutOfTheRootIsRefused() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("facekit-root-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("face.jpg").path,
                                                   withDestinationPath: Fixtures.dataset.appendingPathComponent("img1.jpg").path)
        let config = try Fixtures.configuration { $0.images = try ImageInputPolicy(root: root.path) }
        try await Fixtures.withService(config) { client, _ in
            let r = try await client.execute(uri: "/extract", method: .post, headers: Body.jsonHeaders,
                                             body: try Body.json(["img": "face.jpg"]))
            XCTAssertEqual(r.status, .badRequest)
            XCTAssertTrue(r.errorMessage.contains("outside the image root"), r.errorMessage)
        }
    }

    func testHealthModelsOpenAPIAndPage() async throws {
        try await Fixtures.withService { client, _ in
            var r = try await client.execute(uri: "/health", method: .get)
            XCTAssertEqual(r.status, .ok)
            XCTAssertEqual(try r.object()["status"] as? String, "ok")

            r = try await client.execute(uri: "/models", method: .get)
            XCTAssertEqual(r.status, .ok)
            let models = try r.object()
            XCTAssertEqual((models["models"] as? [[String: Any]])?.compactMap { $0["name"] as? String },
                           ["VGG-Face", "Facenet", "Facenet512", "ArcFace", "SFace", "GhostFaceNet", "OpenFace", "DeepID", "Dlib"])
            XCTAssertEqual(models["default_detector"] as? String, "yunet")
            let sface = try XCTUnwrap((models["models"] as? [[String: Any]])?.first { $0["name"] as? String == "SFace" })
            XCTAssertEqual((sface["thresholds"] as? [String: Double])?["cosine"], 0.593)

            r = try await client.execute(uri: "/", method: .get)
            XCTAssertEqual(r.status, .ok)
            XCTAssertTrue(r.headers[.contentType]?.hasPrefix("text/html") == true)
            // The page calls the routes by these relative names.
            let page = String(buffer: r.body)
            for call in ["call(\"verify\"", "call(\"search\"", "call(\"register\""] {
                XCTAssertTrue(page.contains(call), call)
            }
        }
    }

    /// Every route in the spec answers, and every route is in the spec.
    func testOpenAPISpecMatchesTheRoutes() async throws {
        let store = try StoreRouteTests.temporaryStore()
        try await Fixtures.withService(Fixtures.configuration { $0.store = store }) { client, _ in
            let r = try await client.execute(uri: "/openapi.json", method: .get)
            XCTAssertEqual(r.status, .ok)
            let spec = try r.object()
            XCTAssertEqual(spec["openapi"] as? String, "3.0.3")
            let paths = try XCTUnwrap(spec["paths"] as? [String: [String: Any]])
            var documented: Set<String> = []
            for (path, operations) in paths {
                for method in operations.keys { documented.insert("\(method.uppercased()) \(path)") }
            }
            let served = Set(FaceKitService.routes.map { "\($0.method.rawValue) \($0.path)" })
            XCTAssertEqual(documented, served)
            for route in FaceKitService.routes where route.method == .get && !route.path.contains("{") {
                let answer = try await client.execute(uri: route.path, method: .get)
                XCTAssertEqual(answer.status, .ok, route.path)
            }
            // Every $ref points at something defined.
            let text = String(buffer: r.body)
            let components = try XCTUnwrap(spec["components"] as? [String: [String: Any]])
            let refs = text.components(separatedBy: "\"$ref\": \"#/components/").dropFirst()
                .map { $0.prefix(while: { $0 != "\"" }) }
            XCTAssertFalse(refs.isEmpty)
            for ref in refs {
                let parts = ref.split(separator: "/").map(String.init)
                XCTAssertNotNil(components[parts[0]]?[parts[1]], "dangling $ref \(ref)")
            }
        }
    }

    func testMetricsCountRequests() async throws {
        try await Fixtures.withService { client, _ in
            _ = try await client.execute(uri: "/health", method: .get)
            _ = try await client.execute(uri: "/verify", method: .post, headers: Body.jsonHeaders, body: try Body.json([:]))
            let r = try await client.execute(uri: "/metrics", method: .get)
            XCTAssertEqual(r.status, .ok)
            let text = String(buffer: r.body)
            XCTAssertTrue(text.contains(#"facekit_http_requests_total{method="GET",route="/health",status="200"} 1"#), text)
            XCTAssertTrue(text.contains(#"facekit_http_requests_total{method="POST",route="/verify",status="400"} 1"#), text)
            XCTAssertTrue(text.contains("facekit_http_request_duration_seconds_bucket"), text)
            XCTAssertTrue(text.contains("facekit_engine_jobs_queued"), text)
        }
    }
}
