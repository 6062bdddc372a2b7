import Foundation
import XCTest

/// `facekit find` end to end: deepface's result keys, order and cut, and
/// incremental runs as the printed counts show them.
final class FindCommandTests: XCTestCase {
    var folder: URL!

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    func find(_ extra: [String] = []) throws -> (Fixtures.Run, [[[String: Any]]]) {
        let run = try Fixtures.facekit(["find", Fixtures.image("img1.jpg"), "--db", folder.path, "--json"] + extra)
        XCTAssertEqual(run.status, 0, run.stderr)
        let parsed = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [[[String: Any]]], run.stdout)
        return (run, parsed)
    }

    func processed(_ run: Fixtures.Run) -> Int? {
        guard let range = run.stderr.range(of: #"processed (\d+) in"#, options: .regularExpression) else { return nil }
        return Int(run.stderr[range].split(separator: " ")[1])
    }

    func testFindOnAFolderCopy() throws {
        folder = try Fixtures.folder(with: Fixtures.subset)
        let (first, results) = try find()
        XCTAssertEqual(processed(first), 12, first.stderr)
        // Not a terminal here: plain progress lines, no carriage returns.
        XCTAssertTrue(first.stderr.contains("indexing: 12/12 images"), first.stderr)
        XCTAssertFalse(first.stderr.contains("\r"))
        XCTAssertEqual(results.count, 1)
        let matches = results[0]
        XCTAssertGreaterThanOrEqual(matches.count, 4)
        for key in ["identity", "hash", "target_x", "target_y", "target_w", "target_h", "threshold",
                    "source_x", "source_y", "source_w", "source_h", "distance", "confidence"] {
            XCTAssertNotNil(matches[0][key], "missing \(key)")
        }
        XCTAssertEqual(matches[0]["identity"] as? String, folder.path + "/img1.jpg")
        let names = matches.map { URL(fileURLWithPath: $0["identity"] as! String).lastPathComponent }
        XCTAssertTrue(Set(names).isSubset(of: Fixtures.samePerson), "\(names)")
        let distances = matches.map { $0["distance"] as! Double }
        XCTAssertEqual(distances, distances.sorted())
        XCTAssertTrue(distances.allSatisfy { $0 <= 0.593 })

        // One file added: only it is processed.
        try FileManager.default.copyItem(atPath: Fixtures.image("img13.jpg"), toPath: folder.appendingPathComponent("img13.jpg").path)
        let (second, _) = try find()
        XCTAssertEqual(processed(second), 1, second.stderr)
        XCTAssertTrue(second.stderr.contains("1 added"), second.stderr)

        // One file removed: it is dropped from the results.
        try FileManager.default.removeItem(at: folder.appendingPathComponent("img2.jpg"))
        let (third, after) = try find()
        XCTAssertEqual(processed(third), 0, third.stderr)
        XCTAssertTrue(third.stderr.contains("1 removed"), third.stderr)
        XCTAssertFalse(after[0].contains { ($0["identity"] as? String)?.hasSuffix("/img2.jpg") == true })
        XCTAssertEqual(after[0].count, matches.count - (names.contains("img2.jpg") ? 1 : 0))

        // The cache is one SQLite file in the folder, named after the pipeline.
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        XCTAssertTrue(files.contains("ds_model_sface_detector_yunet_aligned_normalization_base_expand_0_alignment_deepface.facekit.sqlite"), "\(files)")
    }

    func testFindTextOutputAndBadFolder() throws {
        folder = try Fixtures.folder(with: ["img1.jpg", "img2.jpg", "img3.jpg"])
        let run = try Fixtures.facekit(["find", Fixtures.image("img1.jpg"), "--db", folder.path, "--top", "1"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("face 1"), run.stdout)
        XCTAssertTrue(run.stdout.contains("/img1.jpg"), run.stdout)
        XCTAssertFalse(run.stdout.contains("/img2.jpg"), run.stdout)
        let missing = try Fixtures.facekit(["find", Fixtures.image("img1.jpg"), "--db", folder.path + "/nope"])
        XCTAssertEqual(missing.status, 65, missing.stderr)
    }
}
