import FaceKitStore
import Foundation
import XCTest

/// register, search, delete and identities through the binary, on one
/// temporary store file; PostgresStoreCommandTests runs them on PostgreSQL.
class StoreCommandTests: ScratchFolderTestCase {
    var store: String { directory.appendingPathComponent("faces.sqlite").path }

    func run(_ arguments: [String]) throws -> Fixtures.Run {
        try Fixtures.facekit(arguments + ["--store", store])
    }

    func json(_ run: Fixtures.Run) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(run.stdout.utf8))
    }

    func identities() throws -> [String: Int] {
        let listed = try run(["identities", "--json"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        let rows = try XCTUnwrap(try json(listed) as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: rows.map { ($0["identity"] as! String, $0["faces"] as! Int) })
    }

    func topIdentity(_ image: String, model: String = "SFace") throws -> (String?, Int) {
        let found = try run(["search", Fixtures.image(image), "--top", "3", "--json", "--model", model])
        XCTAssertEqual(found.status, 0, found.stderr)
        let faces = try XCTUnwrap(try json(found) as? [[String: Any]])
        let matches = try XCTUnwrap(faces.first?["matches"] as? [[String: Any]])
        return (matches.first?["identity"] as? String, matches.count)
    }

    func testRegisterSearchDeleteRoundTrip() throws {
        let alice = try run(["register", Fixtures.image("img1.jpg"), Fixtures.image("img2.jpg"), "--identity", "alice", "--json"])
        XCTAssertEqual(alice.status, 0, alice.stderr)
        let aliceIDs = try XCTUnwrap(try json(alice) as? [[String: Any]]).map { $0["id"] as! Int }
        XCTAssertEqual(aliceIDs.count, 2)
        XCTAssertEqual(try run(["register", Fixtures.image("img3.jpg"), "--identity", "bob"]).status, 0)
        XCTAssertEqual(try identities(), ["alice": 2, "bob": 1])

        XCTAssertEqual(try topIdentity("img4.jpg").0, "alice")
        XCTAssertEqual(try topIdentity("img12.jpg").0, "bob")

        // Another pipeline's vectors are invisible to this one.
        let (other, count) = try topIdentity("img4.jpg", model: "Dlib")
        XCTAssertNil(other)
        XCTAssertEqual(count, 0)

        let one = try run(["delete", "--id", String(aliceIDs[0])])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertEqual(try identities(), ["alice": 1, "bob": 1])
        XCTAssertEqual(try run(["delete", "--id", String(aliceIDs[0])]).status, 65)

        let gone = try run(["delete", "--identity", "alice"])
        XCTAssertEqual(gone.status, 0, gone.stderr)
        XCTAssertEqual(try identities(), ["bob": 1])
        XCTAssertEqual(try topIdentity("img4.jpg").0, "bob")
        XCTAssertEqual(try run(["delete", "--identity", "alice"]).status, 65)
        XCTAssertEqual(try run(["delete"]).status, 64)
    }

    func testTwoProcessesRegisteringAtOnceLoseNothing() throws {
        // A new file: both processes also race to create the schema.
        let images = ["img1.jpg", "img2.jpg", "img4.jpg", "img5.jpg", "img6.jpg", "img7.jpg"].map(Fixtures.image)
        let first = try Fixtures.start(["register"] + images + ["--identity", "first", "--store", store])
        let second = try Fixtures.start(["register"] + images.reversed() + ["--identity", "second", "--store", store])
        let a = Fixtures.finish(first), b = Fixtures.finish(second)
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(b.status, 0, b.stderr)
        XCTAssertEqual(try identities(), ["first": images.count, "second": images.count])
    }

    func testReindexMovesFacesToTheCurrentPipelineKeepingPathAndIdentity() throws {
        // Registered under the opencv detector; the current pipeline is yunet's.
        let image = Fixtures.image("img1.jpg")
        XCTAssertEqual(try run(["register", image, Fixtures.image("img2.jpg"), "--identity", "alice", "--detector", "opencv"]).status, 0)
        XCTAssertEqual(try run(["register", Fixtures.image("img3.jpg"), "--identity", "bob", "--detector", "opencv", "--privacy"]).status, 0)
        let before = try run(["search", Fixtures.image("img4.jpg"), "--json", "--detector", "yunet"])
        XCTAssertEqual(before.status, 0, before.stderr)
        XCTAssertFalse(before.stdout.contains("alice"), "another pipeline's faces must not be searched: \(before.stdout)")

        let reindex = try run(["reindex", "--detector", "yunet"])
        XCTAssertEqual(reindex.status, 0, reindex.stderr)
        XCTAssertTrue(reindex.stdout.contains("reindexed 2 face(s) from 2 image(s)"), reindex.stdout)
        XCTAssertTrue(reindex.stderr.contains("(bob) under its old pipeline: no source image was kept"), reindex.stderr)

        let after = try run(["search", Fixtures.image("img4.jpg"), "--json", "--detector", "yunet", "--top", "5"])
        let faces = try XCTUnwrap(try json(after) as? [[String: Any]])
        let matches = try XCTUnwrap(faces.first?["matches"] as? [[String: Any]])
        XCTAssertEqual(matches.map { $0["identity"] as? String }, ["alice", "alice"])
        XCTAssertTrue(matches.contains { $0["source_path"] as? String == image }, "\(matches)")
        let old = try run(["search", Fixtures.image("img4.jpg"), "--json", "--detector", "opencv"])
        XCTAssertFalse(old.stdout.contains("alice"), old.stdout)
        XCTAssertTrue(try run(["reindex", "--detector", "yunet"]).stdout.contains("reindexed 0 face(s)"))
    }

    func testAnImageWithoutAFaceIsReportedNotRegistered() throws {
        let missing = try run(["register", Fixtures.image("img1.jpg"), directory.appendingPathComponent("none.jpg").path,
                               "--identity", "carol"])
        XCTAssertEqual(missing.status, 0, missing.stderr)
        XCTAssertTrue(missing.stderr.contains("skipped"), missing.stderr)
        XCTAssertEqual(try identities(), ["carol": 1])
    }
}

/// The same commands with `--store postgres://...`, on a new database per test.
final class PostgresStoreCommandTests: StoreCommandTests {
    var database: (name: String, url: String)!
    override var store: String { database.url }

    override func setUpWithError() throws {
        try super.setUpWithError()
        database = try PostgresServer.scratch()
    }

    override func tearDownWithError() throws {
        if let database { try? PostgresVectorStore.dropDatabase(named: database.name, server: try PostgresServer.url()) }
        try super.tearDownWithError()
    }

    func testAServerThatDoesNotAnswerIsAClearError() throws {
        let refused = try Fixtures.facekit(["identities", "--store", "postgres://facekit:secret@127.0.0.1:1/nowhere"])
        XCTAssertEqual(refused.status, 70, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("cannot connect"), refused.stderr)
        XCTAssertFalse(refused.stderr.contains("secret"), "the password must not be printed: \(refused.stderr)")
        let other = try Fixtures.facekit(["identities", "--store", "mysql://localhost/faces"])
        XCTAssertEqual(other.status, 65, other.stderr)
    }

    func testSearchANNOnPostgresUsesTheIndexAndAgreesWithExact() throws {
        XCTAssertEqual(try run(["register", Fixtures.image("img1.jpg"), Fixtures.image("img2.jpg"), "--identity", "alice"]).status, 0)
        XCTAssertEqual(try run(["register", Fixtures.image("img3.jpg"), "--identity", "bob"]).status, 0)
        let exact = try run(["search", Fixtures.image("img4.jpg"), "--json", "--exact"])
        let ann = try run(["search", Fixtures.image("img4.jpg"), "--json", "--ann"])
        XCTAssertEqual(ann.status, 0, ann.stderr)
        XCTAssertFalse(ann.stderr.contains("note:"), ann.stderr)
        XCTAssertEqual(ann.stdout, exact.stdout)
    }
}
