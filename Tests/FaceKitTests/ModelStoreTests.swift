import FaceKit
import Foundation
import XCTest

final class ModelStoreTests: XCTestCase {
    func testImportTakesKnownFilesAndRejectsUnknownVersions() throws {
        let installed = ModelStore()
        let weights = Fixtures.temporaryDirectory  // laid out like ~/.deepface/weights
        try FileManager.default.copyItem(at: installed.url(for: ModelRegistry.yunet),
                                         to: weights.appendingPathComponent(ModelRegistry.yunet.fileName))
        try Data(repeating: 7, count: 1000).write(to: weights.appendingPathComponent(ModelRegistry.sface.fileName))
        try Data("unrelated".utf8).write(to: weights.appendingPathComponent("notes.txt"))

        let store = ModelStore(home: Fixtures.temporaryDirectory)
        let report = try store.importFiles(from: weights)
        XCTAssertEqual(report.imported, [ModelRegistry.yunet.fileName])
        XCTAssertEqual(report.rejected.map(\.file), [ModelRegistry.sface.fileName])
        guard case .verified = try store.status(of: ModelRegistry.yunet) else { return XCTFail("yunet not verified after import") }
        XCTAssertEqual(try store.status(of: ModelRegistry.sface), .missing)

        let again = try store.importFiles(from: weights)
        XCTAssertEqual(again.alreadyPresent, [ModelRegistry.yunet.fileName])
    }

    func testImportFromAMissingFolderIsAnError() {
        XCTAssertThrowsError(try ModelStore(home: Fixtures.temporaryDirectory).importFiles(from: URL(fileURLWithPath: "/no/such/dir")))
    }

    func testEveryRegisteredFileHasADigestAndASource() {
        for file in ModelRegistry.all {
            // Only deepface's own weights go unpinned: their publisher gives
            // no digest, and their loader is their check.
            if file.digests.isEmpty {
                XCTAssertTrue(file.official?.url.hasPrefix("https://github.com/serengil/deepface_models/") == true, file.fileName)
                XCTAssertNil(file.pypi, file.fileName)
            }
            for digest in file.digests {
                XCTAssertEqual(digest.sha256.count, 64, file.fileName)
                XCTAssertGreaterThan(digest.size, 0, file.fileName)
            }
            XCTAssertTrue(file.official != nil || file.pypi != nil || file.debian != nil, file.fileName)
        }
        XCTAssertEqual(Set(ModelRegistry.all.map(\.fileName)).count, ModelRegistry.all.count)
    }
}
