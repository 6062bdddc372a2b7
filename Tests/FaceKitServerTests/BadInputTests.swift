import FaceKit
import FaceKitServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import XCTest

/// Every bad request gets its own 4xx and a JSON {"error": message}.
final class BadInputTests: XCTestCase {
    struct Case {
        let name: String
        let uri: String
        let headers: HTTPFields
        let body: ByteBuffer?
        let status: HTTPResponse.Status
        let message: String
    }

    func check(_ cases: [Case], config: ServerConfiguration = Fixtures.configuration()) async throws {
        try await Fixtures.withService(config) { client, _ in
            for c in cases {
                let r = try await client.execute(uri: c.uri, method: .post, headers: c.headers, body: c.body)
                XCTAssertEqual(r.status, c.status, "\(c.name): \(r.errorMessage)")
                XCTAssertEqual(r.headers[.contentType], "application/json; charset=utf-8", c.name)
                XCTAssertTrue(r.errorMessage.contains(c.message), "\(c.name): '\(r.errorMessage)' lacks '\(c.message)'")
            }
        }
    }

    func testMalformedRequests() async throws {
        let img2 = try Fixtures.dataURI("img2.jpg")
        try await check([
            Case(name: "no body", uri: "/verify", headers: Body.jsonHeaders, body: nil, status: .badRequest, message: "no body"),
            Case(name: "wrong content type", uri: "/verify", headers: [.contentType: "text/plain"],
                 body: ByteBuffer(string: "img1=a"), status: .unsupportedMediaType, message: "text/plain"),
            Case(name: "no content type", uri: "/represent", headers: [:], body: ByteBuffer(string: "{}"),
                 status: .unsupportedMediaType, message: "Content-Type"),
            Case(name: "not JSON", uri: "/verify", headers: Body.jsonHeaders, body: ByteBuffer(string: "{img1:"),
                 status: .badRequest, message: "not valid JSON"),
            Case(name: "JSON array", uri: "/verify", headers: Body.jsonHeaders, body: ByteBuffer(string: "[1]"),
                 status: .badRequest, message: "must be an object"),
            Case(name: "missing img1", uri: "/verify", headers: Body.jsonHeaders, body: try Body.json(["img2": img2]),
                 status: .badRequest, message: "'img1' is missing"),
            Case(name: "img as a number", uri: "/represent", headers: Body.jsonHeaders, body: try Body.json(["img": 3]),
                 status: .badRequest, message: "'img' must be"),
            Case(name: "multipart without boundary", uri: "/represent", headers: [.contentType: "multipart/form-data"],
                 body: ByteBuffer(string: "x"), status: .badRequest, message: "boundary"),
            Case(name: "multipart without the file", uri: "/represent", headers: Body.multipartHeaders,
                 body: Body.multipart([.init(name: "model_name", filename: nil, data: Data("SFace".utf8))]),
                 status: .badRequest, message: "'img' is missing"),
            Case(name: "bad flag", uri: "/represent", headers: Body.jsonHeaders,
                 body: try Body.json(["img": img2, "align": "maybe"]), status: .badRequest, message: "true or false"),
            Case(name: "anti-spoofing", uri: "/represent", headers: Body.jsonHeaders,
                 body: try Body.json(["img": img2, "anti_spoofing": true]), status: .badRequest, message: "anti_spoofing"),
        ])
    }

    func testUnknownNames() async throws {
        let img1 = try Fixtures.dataURI("img1.jpg"), img2 = try Fixtures.dataURI("img2.jpg")
        try await check([
            Case(name: "unknown model", uri: "/verify", headers: Body.jsonHeaders,
                 body: try Body.json(["img1": img1, "img2": img2, "model_name": "DeepFace"]), status: .badRequest,
                 message: "unknown model 'DeepFace'"),
            Case(name: "unknown detector", uri: "/represent", headers: Body.jsonHeaders,
                 body: try Body.json(["img": img1, "detector_backend": "retinaface"]), status: .badRequest,
                 message: "unknown detector 'retinaface'"),
            Case(name: "unknown metric", uri: "/verify", headers: Body.jsonHeaders,
                 body: try Body.json(["img1": img1, "img2": img2, "distance_metric": "manhattan"]), status: .badRequest,
                 message: "unknown distance metric"),
        ])
    }

    func testUnusableImages() async throws {
        let notAnImage = "data:image/jpeg;base64," + Data("this is plain text, not a JPEG".utf8).base64EncodedString()
        let blank = try Fixtures.blankPNG()
        try await check([
            Case(name: "base64 that is not an image", uri: "/represent", headers: Body.jsonHeaders,
                 body: try Body.json(["img": notAnImage]), status: .unprocessableContent, message: "cannot read image"),
            Case(name: "invalid base64", uri: "/represent", headers: Body.jsonHeaders,
                 body: try Body.json(["img": "data:image/png;base64,@@@@"]), status: .unprocessableContent, message: "base64"),
            Case(name: "no face (JSON)", uri: "/represent", headers: Body.jsonHeaders,
                 body: try Body.json(["img": "data:image/png;base64," + blank.base64EncodedString()]),
                 status: .unprocessableContent, message: "no face detected"),
            Case(name: "no face (upload)", uri: "/verify", headers: Body.multipartHeaders,
                 body: Body.multipart([.init(name: "img1", filename: "blank.png", data: blank),
                                       .init(name: "img2", filename: "img2.jpg", data: try Fixtures.bytes("img2.jpg"))]),
                 status: .unprocessableContent, message: "no face detected"),
            Case(name: "empty upload", uri: "/represent", headers: Body.multipartHeaders,
                 body: Body.multipart([.init(name: "img", filename: "", data: Data())]),
                 status: .badRequest, message: "no file uploaded"),
        ])
    }

    func testNoFaceIsFineWithoutEnforceDetection() async throws {
        let blank = try Fixtures.blankPNG()
        try await Fixtures.withService { client, _ in
            let body = try Body.json(["img": "data:image/png;base64," + blank.base64EncodedString(), "enforce_detection": "false"])
            let r = try await client.execute(uri: "/represent", method: .post, headers: Body.jsonHeaders, body: body)
            XCTAssertEqual(r.status, .ok, r.errorMessage)
        }
    }

    func testPathsAndURLsAreRefusedByDefault() async throws {
        let img2 = try Fixtures.dataURI("img2.jpg")
        try await check([
            Case(name: "path with paths off", uri: "/verify", headers: Body.jsonHeaders,
                 body: try Body.json(["img1": Fixtures.dataset.appendingPathComponent("img1.jpg").path, "img2": img2]),
                 status: .badRequest, message: "image paths are off"),
            Case(name: "URL to loopback", uri: "/verify", headers: Body.jsonHeaders,
                 body: try Body.json(["img1": "http://127.0.0.1:5005/health", "img2": img2]),
                 status: .badRequest, message: "does not fetch image URLs"),
            Case(name: "https URL", uri: "/represent", headers: Body.jsonHeaders,
                 body: try Body.json(["img": "https://example.com/face.jpg"]),
                 status: .badRequest, message: "https URL"),
        ])
    }

    /// The body is read up to the limit; the refusal by declared length
    /// needs a real socket (LiveTests), as the router test sets its own.
    func testOversizedBody() async throws {
        let config = Fixtures.configuration { $0.maxBodyBytes = 100_000 }
        let big = try Body.json(["img": try Fixtures.dataURI("img2.jpg")])  // ~460 kB
        try await check([
            Case(name: "body above the limit", uri: "/represent", headers: Body.jsonHeaders, body: big,
                 status: .contentTooLarge, message: "above the limit of 100000 bytes"),
        ], config: config)
    }

    /// Each FaceKitError category has its status; a missing model names its fix.
    func testLibraryErrorsMapToStatuses() {
        XCTAssertEqual(APIError(FaceKitError.unknownModel("X", known: ["SFace"])).status, .badRequest)
        XCTAssertEqual(APIError(FaceKitError.noFaceDetected(source: "a")).status, .unprocessableContent)
        XCTAssertEqual(APIError(FaceKitError.imageTooLarge(source: "a", width: 9, height: 9, limit: 1)).status, .unprocessableContent)
        XCTAssertEqual(APIError(FaceKitError.imageNotFound(path: "a")).status, .badRequest)
        let missing = APIError(FaceKitError.modelFileMissing(model: "Dlib", file: "f.dat", fetchCommand: "facekit models pull Dlib"))
        XCTAssertEqual(missing.status, .internalServerError)
        XCTAssertTrue(missing.message.contains("facekit models pull Dlib"))
        XCTAssertEqual(APIError(FaceKitError.inferenceFailed("x")).status, .internalServerError)
    }

    func testUnknownRouteAndMethod() async throws {
        try await Fixtures.withService { client, _ in
            var r = try await client.execute(uri: "/build/index", method: .post, headers: Body.jsonHeaders, body: try Body.json([:]))
            XCTAssertEqual(r.status, .notFound)
            XCTAssertNotNil(try r.object()["error"])
            r = try await client.execute(uri: "/verify", method: .get)
            XCTAssertEqual(r.status, .notFound)
        }
    }
}
