import FaceKit
import Foundation
import XCTest

/// Real images from deepface's dataset through real models.
final class PipelineTests: XCTestCase {
    let engine = Fixtures.engine

    func testYuNetFindsOneFaceWithEyesInDeepfaceConvention() throws {
        let faces = try engine.extractFaces(try Fixtures.image("img1.jpg"), options: .init(detector: .yunet))
        XCTAssertEqual(faces.count, 1)
        let area = faces[0].facialArea
        let le = try XCTUnwrap(area.leftEye), re = try XCTUnwrap(area.rightEye)
        // The person's left eye is on the image's right.
        XCTAssertGreaterThan(le.x, re.x)
        for eye in [le, re] {
            XCTAssertTrue(Double(area.x)...Double(area.x + area.w) ~= eye.x)
            XCTAssertTrue(Double(area.y)...Double(area.y + area.h) ~= eye.y)
        }
        XCTAssertGreaterThan(faces[0].confidence, 0.9)
        XCTAssertFalse(faces[0].face.isEmpty)
    }

    func testEveryDetectorFindsTheFaceInImg1() throws {
        let reference = try engine.extractFaces(try Fixtures.image("img1.jpg"), options: .init(detector: .yunet))[0].facialArea
        for detector in DetectorBackend.allCases where detector != .skip {
            let faces = try engine.extractFaces(try Fixtures.image("img1.jpg"), options: .init(detector: detector))
            XCTAssertGreaterThanOrEqual(faces.count, 1, "\(detector)")
            let best = faces.max { overlap($0.facialArea, reference) < overlap($1.facialArea, reference) }!
            XCTAssertGreaterThan(overlap(best.facialArea, reference), 0.4, "\(detector): \(best.facialArea) vs \(reference)")
        }
    }

    func testSeveralFacesInAGroupPhoto() throws {
        let couple = try engine.extractFaces(try Fixtures.image("couple.jpg"), options: .init(detector: .yunet))
        XCTAssertEqual(couple.count, 2)
        // deepface 0.0.103 with yunet finds these same four faces (the first at x=349 y=113 w=139 h=171).
        let crowd = try engine.extractFaces(try Fixtures.image("selfie-many-people.jpg"), options: .init(detector: .yunet))
        XCTAssertEqual(crowd.count, 4)
        XCTAssertEqual(crowd[0].facialArea.x, 349)
        XCTAssertEqual(crowd[0].facialArea.w, 139)
    }

    func testNoFaceIsATypedErrorUnlessDetectionIsNotEnforced() throws {
        let grey = ImageSource.data(ImageFiles.png(width: 320, height: 240, colorType: 0, bitDepth: 8, pixel: [127]), name: "grey.png")
        XCTAssertThrowsError(try engine.represent(grey, model: "SFace", options: .init(detector: .yunet))) { error in
            XCTAssertEqual(error as? FaceKitError, .noFaceDetected(source: "grey.png"))
        }
        let whole = try engine.represent(grey, model: "SFace", options: .init(detector: .yunet, enforceDetection: false))
        XCTAssertEqual(whole.count, 1)
        XCTAssertEqual(whole[0].facialArea, FacialArea(x: 0, y: 0, w: 320, h: 240))
    }

    func testRepresentGivesUnitScaleEmbeddingsOfTheModelSize() throws {
        for model in ["SFace", "Dlib"] {
            let faces = try engine.represent(try Fixtures.image("img2.jpg"), model: model, options: .init(detector: .yunet))
            XCTAssertEqual(faces.count, 1)
            XCTAssertEqual(faces[0].embedding.count, 128)
            XCTAssertTrue(faces[0].embedding.allSatisfy(\.isFinite))
            XCTAssertGreaterThan(faces[0].embedding.map { $0 * $0 }.reduce(0, +), 0)
        }
    }

    /// The CLI stops OpenBLAS's idle workers at start-up; dlib's ResNet
    /// (the Dlib model's BLAS products) starts them again and embeds as it
    /// did before, in the same process.
    func testDlibEmbedsAsBeforeOnceOpenBLASIdleThreadsAreStopped() throws {
        let source = try Fixtures.image("img2.jpg")
        let before = try engine.represent(source, model: "Dlib", options: .init(detector: .yunet))
        XCTAssertTrue(ProcessMemory.stopIdleBLASThreads(), "libblas is OpenBLAS here (scripts/ensure-deps.sh installs it)")
        for _ in 0..<2 {
            let after = try FaceEngine().represent(source, model: "Dlib", options: .init(detector: .yunet))
            XCTAssertEqual(after.map(\.embedding), before.map(\.embedding))
            XCTAssertTrue(ProcessMemory.stopIdleBLASThreads())
        }
    }

    func testSkipUsesTheWholeImage() throws {
        let faces = try engine.represent(try Fixtures.image("img1.jpg"), model: "SFace", options: .init(detector: .skip))
        XCTAssertEqual(faces.count, 1)
        XCTAssertEqual(faces[0].facialArea.x, 0)
    }

    func testUnknownNamesAreUsageErrors() {
        XCTAssertThrowsError(try engine.represent(.path("x.jpg"), model: "NoSuchNet")) { error in
            XCTAssertEqual((error as? FaceKitError)?.category, .usage)
        }
        XCTAssertThrowsError(try DetectorBackend.named("retina")) { error in
            XCTAssertEqual((error as? FaceKitError)?.category, .usage)
        }
    }

    func testMissingModelFileNamesTheFetchCommand() throws {
        let empty = FaceEngine(store: ModelStore(home: Fixtures.temporaryDirectory))
        XCTAssertThrowsError(try empty.represent(try Fixtures.image("img1.jpg"), model: "SFace", options: .init(detector: .skip))) { error in
            guard case FaceKitError.modelFileMissing(let model, let file, let command) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(model, "SFace")
            XCTAssertTrue(file.hasSuffix("face_recognition_sface_2021dec.onnx"))
            XCTAssertEqual(command, "facekit models pull SFace")
        }
    }

    func testCorruptModelFileIsALoadError() throws {
        let home = Fixtures.temporaryDirectory
        let store = ModelStore(home: home)
        try FileManager.default.createDirectory(at: store.modelsDirectory, withIntermediateDirectories: true)
        try Data("not a network".utf8).write(to: store.url(for: ModelRegistry.sface))
        XCTAssertEqual(try store.status(of: ModelRegistry.sface), .unknownDigest(sha256: "", size: 13))
        let engine = FaceEngine(store: store)
        XCTAssertThrowsError(try engine.represent(try Fixtures.image("img1.jpg"), model: "SFace", options: .init(detector: .skip))) { error in
            guard case FaceKitError.modelLoadFailed(let model, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(model, "SFace")
        }
    }

    func testInstalledModelsPassTheirChecks() throws {
        let store = ModelStore()
        for file in [ModelRegistry.sface, ModelRegistry.yunet, ModelRegistry.dlibResNet, ModelRegistry.dlibShape5] {
            guard case .verified = try store.status(of: file) else {
                return XCTFail("\(file.fileName) is not a verified copy; run facekit models pull")
            }
        }
    }

    private func overlap(_ a: FacialArea, _ b: FacialArea) -> Double {
        let x1 = max(a.x, b.x), y1 = max(a.y, b.y)
        let x2 = min(a.x + a.w, b.x + b.w), y2 = min(a.y + a.h, b.y + b.h)
        let inter = Double(max(0, x2 - x1) * max(0, y2 - y1))
        return inter / Double(a.w * a.h + b.w * b.h - Int(inter))
    }
}
