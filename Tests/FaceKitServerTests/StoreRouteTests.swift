import FaceKit
import FaceKitServer
import FaceKitStore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import XCTest

/// /register, /search, /identities and /find with real models on the
/// dataset: deepface's keys, the same distances as /verify, and a 4xx for
/// each bad input.
final class StoreRouteTests: XCTestCase {
    /// A fresh SQLite store in a temporary folder.
    static func temporaryStore() throws -> SQLiteVectorStore {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fk-server-store-\(UUID().uuidString)")
        return try SQLiteVectorStore(path: dir.appendingPathComponent("faces.sqlite").path)
    }

    /// An image root holding `db/` with copies of the given dataset images.
    static func imageRoot(with names: [String]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("fk-server-root-\(UUID().uuidString)")
        let db = root.appendingPathComponent("db")
        try FileManager.default.createDirectory(at: db, withIntermediateDirectories: true)
        for name in names {
            try FileManager.default.copyItem(at: Fixtures.dataset.appendingPathComponent(name), to: db.appendingPathComponent(name))
        }
        return root
    }

    static func post(_ client: some TestClientProtocol, _ uri: String, _ object: [String: Any]) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .post, headers: Body.jsonHeaders, body: try Body.json(object))
    }

    func testRegisterSearchListAndDelete() async throws {
        let store = try Self.temporaryStore()
        let config = Fixtures.configuration { $0.store = store }
        let img1 = try Fixtures.dataURI("img1.jpg"), img2 = try Fixtures.dataURI("img2.jpg"), img3 = try Fixtures.dataURI("img3.jpg")
        // The distance /verify gives for the same pair, for /search to match.
        let verified = try Fixtures.engine.verify(.path(Fixtures.dataset.appendingPathComponent("img2.jpg").path),
                                                  .path(Fixtures.dataset.appendingPathComponent("img1.jpg").path),
                                                  model: "SFace", options: .init(detection: .init(detector: .yunet)))
        try await Fixtures.withService(config) { client, _ in
            var r = try await Self.post(client, "/register", ["img": img1, "img_name": "alice"])
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            var o = try r.object()
            XCTAssertEqual(o["inserted"] as? Int, 1)
            XCTAssertEqual(o["img_name"] as? String, "alice")
            XCTAssertEqual((o["ids"] as? [Int])?.count, 1)
            r = try await Self.post(client, "/register", ["img": img3, "img_name": "bob"])
            XCTAssertEqual(r.status, .ok, r.errorMessage)

            r = try await Self.post(client, "/search", ["img": img2])
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            o = try r.object()
            let faces = try XCTUnwrap(o["results"] as? [[[String: Any]]])
            XCTAssertEqual(faces.count, 1)
            // Within the threshold only: alice, not bob (deepface's default).
            XCTAssertEqual(faces[0].map { $0["img_name"] as? String }, ["alice"])
            let match = faces[0][0]
            XCTAssertEqual(Set(match.keys), ["id", "img_name", "model_name", "detector_backend", "aligned", "l2_normalized",
                                             "search_method", "target_x", "target_y", "target_w", "target_h", "threshold",
                                             "distance_metric", "distance", "confidence"])
            XCTAssertEqual(match["model_name"] as? String, "SFace")
            XCTAssertEqual(match["detector_backend"] as? String, "yunet")
            XCTAssertEqual(match["search_method"] as? String, "exact")
            XCTAssertEqual(match["distance_metric"] as? String, "cosine")
            XCTAssertEqual(match["threshold"] as? Double, 0.593)
            XCTAssertEqual(try XCTUnwrap(match["distance"] as? Double), verified.distance, accuracy: 1e-6)
            XCTAssertEqual(match["target_w"] as? Int, verified.facialAreas.img1.w)

            // search_method ann: on two stored faces the store answers with its
            // exact scan (an index only pays above 10,000 vectors), so the
            // answer must be the exact one.
            r = try await Self.post(client, "/search", ["img": img2, "search_method": "ann"])
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            let ann = try XCTUnwrap(try r.object()["results"] as? [[[String: Any]]])
            XCTAssertEqual(ann[0].map { $0["img_name"] as? String }, ["alice"])
            XCTAssertEqual(ann[0][0]["search_method"] as? String, "ann")
            XCTAssertEqual(try XCTUnwrap(ann[0][0]["distance"] as? Double), verified.distance, accuracy: 1e-6)

            // similarity_search: every stored face, nearest first, at most k.
            r = try await Self.post(client, "/search", ["img": img2, "similarity_search": true, "k": 5])
            let all = try XCTUnwrap(try r.object()["results"] as? [[[String: Any]]])
            XCTAssertEqual(all[0].map { $0["img_name"] as? String }, ["alice", "bob"])
            r = try await Self.post(client, "/search", ["img": img2, "similarity_search": true, "k": 1])
            XCTAssertEqual((try r.object()["results"] as? [[[String: Any]]])?[0].count, 1)

            r = try await client.execute(uri: "/identities", method: .get)
            XCTAssertEqual(r.status, .ok)
            let names = (try r.object()["identities"] as? [[String: Any]])?.compactMap { $0["identity"] as? String }
            XCTAssertEqual(names.map(Set.init), ["alice", "bob"])

            r = try await client.execute(uri: "/identities/alice", method: .delete)
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            XCTAssertEqual(try r.object()["deleted"] as? Int, 1)
            r = try await client.execute(uri: "/identities/alice", method: .delete)
            XCTAssertEqual(r.status, .notFound)
            XCTAssertTrue(r.errorMessage.contains("no identity 'alice'"), r.errorMessage)

            r = try await Self.post(client, "/search", ["img": img2])
            XCTAssertEqual((try r.object()["results"] as? [[[String: Any]]])?[0].count, 0, "alice is gone, bob is too far")
        }
    }

    /// deepface names unnamed faces after the image path when it is one,
    /// else with a UUID; it registers every face of the image.
    func testRegisterNamesAndFaces() async throws {
        let store = try Self.temporaryStore()
        let root = try Self.imageRoot(with: ["img1.jpg", "couple.jpg"])
        defer { try? FileManager.default.removeItem(at: root) }
        let config = try Fixtures.configuration { $0.store = store; $0.images = try ImageInputPolicy(root: root.path) }
        try await Fixtures.withService(config) { client, _ in
            var r = try await Self.post(client, "/register", ["img": "db/img1.jpg"])
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            XCTAssertEqual(try r.object()["img_name"] as? String, "db/img1.jpg")

            r = try await client.execute(uri: "/register", method: .post, headers: Body.multipartHeaders, body: Body.multipart([
                .init(name: "img", filename: "img1.jpg", data: try Fixtures.bytes("img1.jpg")),
            ]))
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            let generated = try XCTUnwrap(try r.object()["img_name"] as? String)
            XCTAssertNotNil(UUID(uuidString: generated), generated)

            r = try await Self.post(client, "/register", ["img": "db/couple.jpg", "img_name": "couple"])
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            let all = try XCTUnwrap(try r.object()["inserted"] as? Int)
            XCTAssertGreaterThanOrEqual(all, 2, "every face of couple.jpg")
            r = try await Self.post(client, "/register", ["img": "db/couple.jpg", "img_name": "couple-largest", "faces": "largest"])
            XCTAssertEqual(try r.object()["inserted"] as? Int, 1)
        }
    }

    func testFindOverAFolderUnderTheRoot() async throws {
        // img1, img2 and img4 show one person, img3 another (master.csv).
        let root = try Self.imageRoot(with: ["img1.jpg", "img2.jpg", "img3.jpg"])
        defer { try? FileManager.default.removeItem(at: root) }
        let config = try Fixtures.configuration { $0.images = try ImageInputPolicy(root: root.path) }
        let query = try Fixtures.dataURI("img4.jpg")
        try await Fixtures.withService(config) { client, _ in
            var r = try await Self.post(client, "/find", ["img": query, "db_path": "db"])
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            var faces = try XCTUnwrap(try r.object()["results"] as? [[[String: Any]]])
            XCTAssertEqual(faces.count, 1)
            XCTAssertEqual(Set(faces[0].compactMap { $0["identity"] as? String }), ["db/img1.jpg", "db/img2.jpg"])
            let first = faces[0][0]
            XCTAssertEqual(Set(first.keys), ["identity", "hash", "target_x", "target_y", "target_w", "target_h",
                                             "source_x", "source_y", "source_w", "source_h", "threshold", "distance", "confidence"])
            let distances = faces[0].compactMap { $0["distance"] as? Double }
            XCTAssertEqual(distances, distances.sorted())
            XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("db/" + PipelineSignature(
                model: "SFace", modelSHA256: "", dimensions: 128, detector: "yunet", align: true, alignment: "deepface",
                expandPercentage: 0).fileName).path), "the index lives in the folder")

            // A second call uses the index; k and similarity_search as deepface.
            r = try await Self.post(client, "/find", ["img": query, "db_path": "db", "similarity_search": true, "k": 3])
            faces = try XCTUnwrap(try r.object()["results"] as? [[[String: Any]]])
            XCTAssertEqual(faces[0].count, 3)
            XCTAssertEqual(faces[0].last?["identity"] as? String, "db/img3.jpg")
        }
    }

    struct Case {
        let name: String
        let method: HTTPRequest.Method
        let uri: String
        let body: ByteBuffer?
        let status: HTTPResponse.Status
        let message: String

        init(name: String, method: HTTPRequest.Method, uri: String, object: [String: Any]?, status: HTTPResponse.Status,
             message: String) {
            self.name = name
            self.method = method
            self.uri = uri
            body = object.map { try! Body.json($0) }
            self.status = status
            self.message = message
        }
    }

    func check(_ config: ServerConfiguration, _ cases: [Case]) async throws {
        try await Fixtures.withService(config) { client, _ in
            for c in cases {
                let r = try await client.execute(uri: c.uri, method: c.method, headers: Body.jsonHeaders, body: c.body)
                XCTAssertEqual(r.status, c.status, "\(c.name): \(r.errorMessage)")
                XCTAssertTrue(r.errorMessage.contains(c.message), "\(c.name): '\(r.errorMessage)' lacks '\(c.message)'")
            }
        }
    }

    func testBadStoreRequests() async throws {
        let store = try Self.temporaryStore()
        let config = Fixtures.configuration { $0.store = store }
        let img1 = try Fixtures.dataURI("img1.jpg")
        let blank = "data:image/png;base64," + (try Fixtures.blankPNG()).base64EncodedString()
        try await check(config, [
            Case(name: "register without a body", method: .post, uri: "/register", object: nil, status: .badRequest, message: "no body"),
            Case(name: "register without img", method: .post, uri: "/register", object: ["img_name": "x"], status: .badRequest,
                 message: "'img' is missing"),
            Case(name: "register no face", method: .post, uri: "/register", object: ["img": blank, "img_name": "x"],
                 status: .unprocessableContent, message: "no face detected"),
            Case(name: "register unknown model", method: .post, uri: "/register", object: ["img": img1, "model_name": "DeepFace"],
                 status: .badRequest, message: "unknown model 'DeepFace'"),
            Case(name: "register bad faces", method: .post, uri: "/register", object: ["img": img1, "faces": "some"],
                 status: .badRequest, message: "'faces' must be"),
            Case(name: "register l2_normalize", method: .post, uri: "/register", object: ["img": img1, "l2_normalize": true],
                 status: .badRequest, message: "l2_normalize"),
            Case(name: "register a path with paths off", method: .post, uri: "/register", object: ["img": "/etc/passwd"],
                 status: .badRequest, message: "image paths are off"),
            Case(name: "search an empty store", method: .post, uri: "/search", object: ["img": img1], status: .unprocessableContent,
                 message: "no faces are registered"),
            Case(name: "search unknown method", method: .post, uri: "/search", object: ["img": img1, "search_method": "lsh"],
                 status: .badRequest, message: "search_method must be 'exact' or 'ann'"),
            Case(name: "search k=0", method: .post, uri: "/search", object: ["img": img1, "k": 0], status: .badRequest,
                 message: "'k' must be at least 1"),
            Case(name: "search unknown metric", method: .post, uri: "/search", object: ["img": img1, "distance_metric": "l1"],
                 status: .badRequest, message: "unknown distance metric"),
            Case(name: "delete unknown", method: .delete, uri: "/identities/nobody", object: nil, status: .notFound,
                 message: "no identity 'nobody'"),
        ])
    }

    func testNoStoreAnswers501() async throws {
        let img1 = try Fixtures.dataURI("img1.jpg")
        try await check(Fixtures.configuration(), [
            Case(name: "register", method: .post, uri: "/register", object: ["img": img1], status: .notImplemented, message: "--store"),
            Case(name: "search", method: .post, uri: "/search", object: ["img": img1], status: .notImplemented, message: "--store"),
            Case(name: "identities", method: .get, uri: "/identities", object: nil, status: .notImplemented, message: "--store"),
            Case(name: "delete", method: .delete, uri: "/identities/x", object: nil, status: .notImplemented, message: "--store"),
        ])
    }

    func testBadFindRequests() async throws {
        let root = try Self.imageRoot(with: ["img1.jpg"])
        defer { try? FileManager.default.removeItem(at: root) }
        let rooted = try Fixtures.configuration { $0.images = try ImageInputPolicy(root: root.path) }
        let img2 = try Fixtures.dataURI("img2.jpg")
        try await check(rooted, [
            Case(name: "no db_path", method: .post, uri: "/find", object: ["img": img2], status: .badRequest, message: "'db_path' is missing"),
            Case(name: "db_path outside the root", method: .post, uri: "/find", object: ["img": img2, "db_path": "../"],
                 status: .badRequest, message: "outside the image root"),
            Case(name: "db_path absolute outside", method: .post, uri: "/find", object: ["img": img2, "db_path": "/etc"],
                 status: .badRequest, message: "outside the image root"),
            Case(name: "db_path a file", method: .post, uri: "/find", object: ["img": img2, "db_path": "db/img1.jpg"],
                 status: .badRequest, message: "not a folder"),
            Case(name: "db_path missing", method: .post, uri: "/find", object: ["img": img2, "db_path": "nowhere"],
                 status: .badRequest, message: "not found"),
            Case(name: "db_path a URL", method: .post, uri: "/find", object: ["img": img2, "db_path": "s3://bucket/faces"],
                 status: .badRequest, message: "not a URL"),
            Case(name: "k=0", method: .post, uri: "/find", object: ["img": img2, "db_path": "db", "k": 0],
                 status: .badRequest, message: "'k' must be at least 1"),
            Case(name: "unknown model", method: .post, uri: "/find", object: ["img": img2, "db_path": "db", "model_name": "DeepFace"],
                 status: .badRequest, message: "unknown model"),
        ])
        try await check(Fixtures.configuration(), [
            Case(name: "db_path with paths off", method: .post, uri: "/find", object: ["img": img2, "db_path": "db"],
                 status: .badRequest, message: "image paths are off"),
        ])
    }
}
