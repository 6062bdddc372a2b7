import FaceKit
import FaceKitStore
import Foundation
import XCTest

/// deepface's find through the library, on real images: what is found, and
/// what each run processes.
final class FolderIndexTests: XCTestCase {
    var folder: URL!

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    func index() throws -> FolderIndex {
        try FolderIndex(folder: folder.path, engine: FaceEngine(), model: "SFace",
                        detection: DetectionOptions(detector: .yunet))
    }

    func testIncrementalIndexingProcessesOnlyWhatChanged() throws {
        folder = try Fixtures.folder(with: Fixtures.subset)
        let first = try index().refresh()
        XCTAssertEqual(first.images, 12)
        XCTAssertEqual(first.added, 12)
        XCTAssertEqual(first.processed, 12)
        XCTAssertEqual(first.failures, [])
        XCTAssertGreaterThanOrEqual(first.faces, 12)
        print("indexed 12 images in \(first.seconds) s: \(first.imagesPerSecond) images/s")

        let again = try index().refresh()
        XCTAssertEqual(again.processed, 0)
        XCTAssertEqual(again.unchanged, 12)
        XCTAssertEqual(again.faces, first.faces)

        // Touched but same bytes: hashed, not processed.
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 60)],
                                              ofItemAtPath: folder.appendingPathComponent("img3.jpg").path)
        let touched = try index().refresh()
        XCTAssertEqual(touched.processed, 0)
        XCTAssertEqual(touched.changed, 0)

        try FileManager.default.copyItem(atPath: Fixtures.image("img13.jpg"), toPath: folder.appendingPathComponent("img13.jpg").path)
        let added = try index().refresh()
        XCTAssertEqual(added.added, 1)
        XCTAssertEqual(added.processed, 1)

        // Same name, other person's bytes: reprocessed, old faces gone.
        let replaced = folder.appendingPathComponent("img2.jpg")
        try FileManager.default.removeItem(at: replaced)
        try FileManager.default.copyItem(atPath: Fixtures.image("img3.jpg"), toPath: replaced.path)
        let changed = try index().refresh()
        XCTAssertEqual(changed.changed, 1)
        XCTAssertEqual(changed.processed, 1)

        try FileManager.default.removeItem(at: folder.appendingPathComponent("img13.jpg"))
        let removed = try index().refresh()
        XCTAssertEqual(removed.removed, 1)
        XCTAssertEqual(removed.processed, 0)
        XCTAssertEqual(removed.faces, first.faces)
    }

    func testFindReturnsTheSamePersonFirstAndCutsAtTheThreshold() throws {
        folder = try Fixtures.folder(with: Fixtures.subset)
        let index = try index()
        _ = try index.refresh()
        let results = try index.find(.path(Fixtures.image("img1.jpg")))
        XCTAssertEqual(results.count, 1)
        let matches = results[0]
        XCTAssertGreaterThanOrEqual(matches.count, 4)
        XCTAssertEqual(matches[0].identity, folder.path + "/img1.jpg")
        XCTAssertEqual(matches[0].distance, 0, accuracy: 1e-6)
        for match in matches {
            XCTAssertTrue(Fixtures.samePerson.contains(URL(fileURLWithPath: match.identity).lastPathComponent), match.identity)
            XCTAssertLessThanOrEqual(match.distance, 0.593)
            XCTAssertEqual(match.threshold, 0.593)
            XCTAssertGreaterThan(match.confidence, 50)
        }
        XCTAssertEqual(matches.map(\.distance), matches.map(\.distance).sorted())
        // Each distance is deepface's verify distance for the same pair.
        let engine = FaceEngine()
        let pair = try engine.verify(.path(Fixtures.image("img1.jpg")), .path(matches[1].identity), model: "SFace",
                                     options: .init(detection: DetectionOptions(detector: .yunet)))
        XCTAssertEqual(pair.distance, matches[1].distance)

        let top2 = try index.find(.path(Fixtures.image("img1.jpg")), top: 2)
        XCTAssertEqual(top2[0].map(\.identity), Array(matches.prefix(2)).map(\.identity))
    }

    func testAnImageWithoutAFaceOrUnreadableIsReportedAndSkipped() throws {
        folder = try Fixtures.folder(with: ["img1.jpg", "img2.jpg"])
        try Data("not an image".utf8).write(to: folder.appendingPathComponent("broken.jpg"))
        // A face-less picture: a flat grey PNG made by the image encoder.
        let grey = try Image(bgr: [UInt8](repeating: 128, count: 64 * 64 * 3), width: 64, height: 64)
        try grey.write(to: folder.appendingPathComponent("grey.png").path)
        let report = try index().refresh()
        XCTAssertEqual(report.processed, 4)
        XCTAssertEqual(Set(report.failures.map { URL(fileURLWithPath: $0.path).lastPathComponent }), ["broken.jpg", "grey.png"])
        XCTAssertEqual(report.faces, 2)
        // Remembered as seen: not tried again until they change.
        XCTAssertEqual(try index().refresh().processed, 0)
    }
}
