import FaceKit
import FaceKitServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import XCTest

/// /analyze: deepface's {"results": [...]} with the library's numbers, its
/// `actions` as a JSON list or a form string, and a 4xx for bad input.
final class AnalyzeRouteTests: XCTestCase {
    func testAnalyzeGivesTheLibrarysAnalysis() async throws {
        let img1 = try Fixtures.dataURI("img1.jpg")
        let analyzer = FaceAnalyzer(engine: Fixtures.engine)
        let expected = try analyzer.analyze(.path(Fixtures.dataset.appendingPathComponent("img1.jpg").path),
                                            options: .init(detection: .init(detector: .yunet))).faces
        try await Fixtures.withService { client, _ in
            let r = try await client.execute(uri: "/analyze", method: .post, headers: Body.jsonHeaders, body: try Body.json(["img": img1]))
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            let faces = try XCTUnwrap(try r.object()["results"] as? [[String: Any]])
            XCTAssertEqual(faces.count, 1)
            let face = faces[0]
            for key in ["region", "face_confidence", "age", "gender", "dominant_gender", "emotion", "dominant_emotion", "models"] {
                XCTAssertNotNil(face[key], key)
            }
            XCTAssertEqual(face["age"] as? Int, expected[0].age)
            XCTAssertEqual(face["dominant_gender"] as? String, expected[0].dominantGender)
            XCTAssertEqual(face["dominant_emotion"] as? String, expected[0].dominantEmotion)
            let emotion = try XCTUnwrap(face["emotion"] as? [String: Double])
            for (label, value) in expected[0].emotion ?? [:] {
                XCTAssertEqual(try XCTUnwrap(emotion[label]), value, accuracy: 1e-9, label)
            }
            XCTAssertEqual((face["region"] as? [String: Any])?["w"] as? Int, expected[0].region.w)
        }
    }

    func testActionsAsAListOrAFormString() async throws {
        let img1 = try Fixtures.dataURI("img1.jpg")
        try await Fixtures.withService { client, _ in
            var r = try await client.execute(uri: "/analyze", method: .post, headers: Body.jsonHeaders,
                                             body: try Body.json(["img": img1, "actions": ["age", "gender"]]))
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            var face = try XCTUnwrap((try r.object()["results"] as? [[String: Any]])?.first)
            XCTAssertNotNil(face["age"])
            XCTAssertNotNil(face["gender"])
            XCTAssertNil(face["emotion"])

            r = try await client.execute(uri: "/analyze", method: .post, headers: Body.multipartHeaders, body: Body.multipart([
                .init(name: "img", filename: "img1.jpg", data: try Fixtures.bytes("img1.jpg")),
                .init(name: "actions", filename: nil, data: Data("['emotion']".utf8)),
            ]))
            XCTAssertEqual(r.status, .ok, r.errorMessage)
            face = try XCTUnwrap((try r.object()["results"] as? [[String: Any]])?.first)
            XCTAssertNotNil(face["emotion"])
            XCTAssertNil(face["age"])
        }
    }

    func testBadAnalyzeRequests() async throws {
        let img1 = try Fixtures.dataURI("img1.jpg")
        let blank = "data:image/png;base64," + (try Fixtures.blankPNG()).base64EncodedString()
        let cases: [(String, ByteBuffer?, HTTPResponse.Status, String)] = [
            ("no body", nil, .badRequest, "no body"),
            ("unknown action", try Body.json(["img": img1, "actions": ["age", "height"]]), .badRequest, "height"),
            ("empty actions", try Body.json(["img": img1, "actions": [String]()]), .badRequest, "'actions' is empty"),
            ("actions a number", try Body.json(["img": img1, "actions": 3]), .badRequest, "'actions' must be a list"),
            ("unknown model", try Body.json(["img": img1, "age_model": "oracle"]), .badRequest, "unknown model 'oracle'"),
            ("no face", try Body.json(["img": blank]), .unprocessableContent, "no face detected"),
            ("not an image", try Body.json(["img": "data:image/jpeg;base64," + Data("text".utf8).base64EncodedString()]),
             .unprocessableContent, "cannot read image"),
        ]
        try await Fixtures.withService { client, _ in
            for (name, body, status, message) in cases {
                let r = try await client.execute(uri: "/analyze", method: .post, headers: Body.jsonHeaders, body: body)
                XCTAssertEqual(r.status, status, "\(name): \(r.errorMessage)")
                XCTAssertTrue(r.errorMessage.contains(message), "\(name): '\(r.errorMessage)' lacks '\(message)'")
            }
        }
    }
}
