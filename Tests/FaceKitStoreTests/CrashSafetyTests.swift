import FaceKit
@testable import FaceKitStore
import Foundation
import XCTest

/// kill -9 in the middle of `register --from` and of find's indexing, then
/// run again: every committed batch is kept, nothing is processed twice,
/// and the store ends equal to one built in a single clean run. This class
/// runs on SQLite; PostgresCrashSafetyTests on PostgreSQL.
class CrashSafetyTests: ScratchFolderTestCase {
    var folder: URL!
    /// 40 images: three batches of at most 16, so a kill after the first
    /// leaves work both done and undone.
    static let images = Array(((1...51).map { "img\($0).jpg" }).filter {
        FileManager.default.fileExists(atPath: Fixtures.image($0))
    }.prefix(40))

    override func setUpWithError() throws {
        try super.setUpWithError()
        folder = try Fixtures.folder(with: Self.images)
    }

    override func tearDownWithError() throws {
        if let folder { try? FileManager.default.removeItem(at: folder) }
        try super.tearDownWithError()
    }

    /// The store under test; `fresh` names a second, independent one.
    func storeArgument(fresh: Bool = false) throws -> String {
        directory.appendingPathComponent(fresh ? "reference.sqlite" : "faces.sqlite").path
    }

    func openStore(_ argument: String) throws -> any VectorStore {
        PostgresVectorStore.isURL(argument) ? try PostgresVectorStore(url: argument) : try SQLiteVectorStore(path: argument)
    }

    var signature: PipelineSignature {
        get throws {
            try PipelineSignature.current(model: RecognitionModels.named("SFace"), detection: DetectionOptions(detector: .yunet))
        }
    }

    /// Starts facekit, waits until its stderr shows `marker` (a batch was
    /// committed), and kills it with SIGKILL. Fails if it ended by itself
    /// first: then no crash was tested.
    static func killMidway(_ arguments: [String], after marker: String) throws {
        let (process, _, err) = try Fixtures.start(arguments)
        var seen = ""
        let handle = err.fileHandleForReading
        while !seen.contains(marker) {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            seen += String(decoding: chunk, as: UTF8.self)
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal, "facekit finished before it could be killed: \(seen)")
        XCTAssertTrue(seen.contains(marker), seen)
    }

    func enrolReport(_ run: Fixtures.Run) throws -> [String: Any] {
        XCTAssertEqual(run.status, 0, run.stderr)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any], run.stdout)
    }

    func testRegisterFromFolderKilledMidwayLosesAndDuplicatesNothing() throws {
        let store = try storeArgument()
        let command = ["register", "--from", folder.path, "--detector", "yunet", "--json"]
        try Self.killMidway(command + ["--store", store], after: "16/\(Self.images.count)")

        let sig = try signature
        let committed = try openStore(store).ledger(signature: sig, under: "").count
        XCTAssertGreaterThanOrEqual(committed, 16)
        XCTAssertLessThan(committed, Self.images.count)

        let rerun = try enrolReport(try Fixtures.facekit(command + ["--store", store]))
        XCTAssertEqual(rerun["processed"] as? Int, Self.images.count - committed, "\(rerun)")
        XCTAssertEqual(rerun["unchanged"] as? Int, committed, "\(rerun)")
        let again = try enrolReport(try Fixtures.facekit(command + ["--store", store]))
        XCTAssertEqual(again["processed"] as? Int, 0, "\(again)")

        let reference = try storeArgument(fresh: true)
        _ = try enrolReport(try Fixtures.facekit(command + ["--store", reference]))
        let expected = try openStore(reference).identities(signature: sig)
        XCTAssertEqual(try openStore(store).identities(signature: sig), expected)
        XCTAssertEqual(try openStore(store).count(signature: sig), try openStore(reference).count(signature: sig))
        XCTAssertEqual(Set(expected.map(\.identity)).count, expected.count)
    }

    func testTwoEnrolmentsOfOneFolderAtOnceLeaveOneSetOfFaces() throws {
        let store = try storeArgument()
        let command = ["register", "--from", folder.path, "--detector", "yunet", "--json", "--store", store]
        let first = try Fixtures.start(command), second = try Fixtures.start(command)
        XCTAssertEqual(Fixtures.finish(first).status, 0)
        XCTAssertEqual(Fixtures.finish(second).status, 0)
        let reference = try storeArgument(fresh: true)
        _ = try enrolReport(try Fixtures.facekit(["register", "--from", folder.path, "--detector", "yunet", "--json",
                                                  "--store", reference]))
        let sig = try signature
        XCTAssertEqual(try openStore(store).identities(signature: sig), try openStore(reference).identities(signature: sig))
    }
}

/// The same kills on PostgreSQL.
final class PostgresCrashSafetyTests: CrashSafetyTests {
    var databases: [String] = []

    override func storeArgument(fresh: Bool = false) throws -> String {
        let name = "fk_crash_\(fresh ? "ref" : "main")_\(ObjectIdentifier(self).hashValue.magnitude)"
        if let known = databases.firstIndex(of: name) {
            return try PostgresVectorStore.databaseURL(try PostgresServer.url(), databases[known])
        }
        databases.append(name)
        return try PostgresVectorStore.createDatabase(named: name, server: try PostgresServer.url())
    }

    /// A killed client's half-sent COPY must die with its connection: the
    /// server rolls it back and no session of it stays open holding locks.
    func testAKilledEnrolmentLeavesNoSessionBehind() throws {
        let store = try storeArgument()
        try Self.killMidway(["register", "--from", folder.path, "--detector", "yunet", "--store", store],
                            after: "16/\(Self.images.count)")
        let pg = try PostgresVectorStore(url: store)
        var open = -1
        for _ in 0..<50 {
            open = try pg.withConnection { connection in
                Int(try connection.query("""
                    SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                      AND state IS NOT NULL AND state <> 'idle'
                    """).first?[0] ?? "") ?? -1
            }
            if open == 0 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertEqual(open, 0)
        // Every face in the store belongs to a ledger entry committed with it.
        let sig = try signature
        let ledger = try pg.ledger(signature: sig, under: "")
        let orphans = try pg.withConnection { connection in
            Int(try connection.query("""
                SELECT count(*) FROM face f WHERE NOT EXISTS (SELECT 1 FROM indexed_file i WHERE i.path = f.source_path)
                """).first?[0] ?? "") ?? -1
        }
        XCTAssertEqual(orphans, 0)
        XCTAssertGreaterThanOrEqual(ledger.count, 16)
    }

    override func tearDownWithError() throws {
        for name in databases { try? PostgresVectorStore.dropDatabase(named: name, server: try PostgresServer.url()) }
        try super.tearDownWithError()
    }
}

/// find's own folder cache (always SQLite) under the same kill.
final class FindCrashSafetyTests: XCTestCase {
    func testFindIndexingKilledMidwayLosesAndDuplicatesNothing() throws {
        let folder = try Fixtures.folder(with: CrashSafetyTests.images)
        let reference = try Fixtures.folder(with: CrashSafetyTests.images)
        defer {
            try? FileManager.default.removeItem(at: folder)
            try? FileManager.default.removeItem(at: reference)
        }
        let query = Fixtures.image("img1.jpg")
        try CrashSafetyTests.killMidway(["find", query, "--db", folder.path, "--detector", "yunet"], after: "16/\(CrashSafetyTests.images.count)")
        let rerun = try Fixtures.facekit(["find", query, "--db", folder.path, "--detector", "yunet", "--json"])
        XCTAssertEqual(rerun.status, 0, rerun.stderr)
        XCTAssertTrue(rerun.stderr.contains("unchanged"), rerun.stderr)
        let clean = try Fixtures.facekit(["find", query, "--db", reference.path, "--detector", "yunet", "--json"])
        XCTAssertEqual(clean.status, 0, clean.stderr)
        // Same matches (identities are paths under each folder), same faces in the cache.
        func normalised(_ run: Fixtures.Run, _ dir: URL) -> String {
            run.stdout.replacingOccurrences(of: dir.path, with: "DIR")
        }
        XCTAssertEqual(normalised(rerun, folder), normalised(clean, reference))
        let faces = { (run: Fixtures.Run) in run.stderr.components(separatedBy: "; ").last ?? "" }
        XCTAssertEqual(faces(rerun), faces(clean))
        let processed = rerun.stderr.range(of: "processed (\\d+)", options: .regularExpression).map { String(rerun.stderr[$0]) }
        XCTAssertNotEqual(processed, "processed \(CrashSafetyTests.images.count)", rerun.stderr)
        XCTAssertNotEqual(processed, "processed 0", rerun.stderr)
    }
}
