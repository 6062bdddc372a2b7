import FaceKit
@testable import FaceKitStore
import Foundation
import XCTest

/// The server the PostgreSQL tests use: scripts/test starts a throwaway one
/// and exports its URL. Without it these tests fail (never skip), so a run
/// that did not test PostgreSQL cannot pass for one that did.
enum PostgresServer {
    static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["FACEKIT_TEST_POSTGRES"], !url.isEmpty else {
            XCTFail("FACEKIT_TEST_POSTGRES is not set: run ./scripts/test, or export FACEKIT_TEST_POSTGRES=$(scripts/pg-server.sh start DIR)")
            throw FaceKitError.store("no PostgreSQL server for the tests")
        }
        return url
    }

    /// A new empty database for one test.
    static func scratch() throws -> (name: String, url: String) {
        let name = "fk_test_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        return (name, try PostgresVectorStore.createDatabase(named: name, server: try url()))
    }
}

/// Every VectorStoreTests test, on PostgreSQL with pgvector.
class PostgresVectorStoreTests: VectorStoreTests {
    var database: (name: String, url: String)!

    override func setUpWithError() throws {
        try super.setUpWithError()
        database = try PostgresServer.scratch()
    }

    override func tearDownWithError() throws {
        if let database { try? PostgresVectorStore.dropDatabase(named: database.name, server: try PostgresServer.url()) }
        try super.tearDownWithError()
    }

    override func openStore() throws -> any VectorStore {
        try PostgresVectorStore(url: database.url)
    }

    override func openStoreWithWideANN() throws -> any VectorStore {
        try PostgresVectorStore(url: database.url, efSearch: 1000)
    }

    func testMigrationsAreRecordedOnceAndANNIndexIsPartialPerSignature() throws {
        let store = try PostgresVectorStore(url: database.url)
        _ = try PostgresVectorStore(url: database.url)
        let applied = try store.withConnection { try $0.query("SELECT identifier FROM migration ORDER BY applied_at").rows.map { $0[0] } }
        XCTAssertEqual(applied, StoreSchema.postgres.map(\.identifier))
        let sig = signature(dimensions: 20)
        try store.add(vectors(30, dimensions: 20, seed: 3).map { FaceRecord(identity: "a", embedding: $0) }, signature: sig)
        XCTAssertTrue(try store.buildANNIndex(signature: sig))
        XCTAssertFalse(try PostgresVectorStore(url: database.url).buildANNIndex(signature: sig))
        let definition = try store.withConnection {
            try $0.query("SELECT indexdef FROM pg_indexes WHERE indexname LIKE 'face_hnsw_%'").rows.compactMap { $0[0] }
        }
        XCTAssertEqual(definition.count, 1)
        XCTAssertTrue(definition[0].contains("hnsw") && definition[0].contains("vector(20)") && definition[0].contains("WHERE"),
                      definition[0])
    }

    func testAbovePgvectorsLimitANNRunsExactlyAndSaysSo() throws {
        let store = try PostgresVectorStore(url: database.url)
        let sig = signature(dimensions: 2048)
        let data = vectors(12, dimensions: 2048, seed: 8)
        try store.add(data.map { FaceRecord(identity: "wide", embedding: $0) }, signature: sig)
        let plan = try store.searchPlan(.ann, signature: sig, metric: .cosine, limit: .top(3))
        XCTAssertEqual(plan.mode, .exact)
        XCTAssertTrue(plan.note?.contains("2000") == true, plan.note ?? "")
        let hits = try store.search(data[4], signature: sig, metric: .cosine, limit: .top(3), mode: .ann)
        XCTAssertEqual(hits.first?.distance, 0)
        XCTAssertFalse(try store.buildANNIndex(signature: sig))
    }

    func testRefusedInputsAreTypedErrors() throws {
        let store = try PostgresVectorStore(url: database.url)
        let sig = signature(dimensions: 3)
        XCTAssertThrowsError(try store.add([FaceRecord(identity: "n", embedding: [1, .nan, 0])], signature: sig)) {
            XCTAssertEqual(($0 as? FaceKitError)?.category, .input)
        }
        XCTAssertEqual(try store.count(signature: sig), 0)
        XCTAssertThrowsError(try PostgresVectorStore(url: "postgres://postgres@127.0.0.1:1/none")) {
            XCTAssertEqual(($0 as? FaceKitError)?.category, .processing)
        }
    }
}

/// Every VectorStoreTests test on PostgreSQL with the local ANN engine: the
/// 4-bit scan mirrored in this process, asked to re-rank every row so that it
/// must agree with the exact search, and kept in step with inserts and
/// deletes made through other handles. (The PostgreSQL-specific tests it
/// inherits run again; they open their stores themselves.)
final class PostgresLocalANNStoreTests: PostgresVectorStoreTests {
    override func openStore() throws -> any VectorStore {
        try PostgresVectorStore(url: database.url, ann: .local)
    }

    override func openStoreWithWideANN() throws -> any VectorStore {
        try PostgresVectorStore(url: database.url, ann: .local, localANN: ANNOptions(candidates: 1000, minimumCount: 0))
    }

    /// A delete through another handle (process) reaches this handle's
    /// mirror in place: the index keeps its object and loses the row.
    func testLocalIndexFollowsAnotherHandlesDelete() throws {
        let store = try PostgresVectorStore(url: database.url, ann: .local, localANN: ANNOptions(minimumCount: 0))
        let sig = signature(dimensions: 20)
        let data = vectors(50, dimensions: 20, seed: 9)
        let ids = try store.add(data.map { FaceRecord(identity: "p", embedding: $0) }, signature: sig)
        XCTAssertEqual(try store.search(data[7], signature: sig, metric: .cosine, limit: .top(1), mode: .ann).first?.id, ids[7])
        let first = try XCTUnwrap(try store.localIndex(sig)).1
        XCTAssertTrue(try PostgresVectorStore(url: database.url).delete(id: ids[7]))
        XCTAssertNotEqual(try store.search(data[7], signature: sig, metric: .cosine, limit: .top(1), mode: .ann).first?.id, ids[7])
        let second = try XCTUnwrap(try store.localIndex(sig)).1
        XCTAssertTrue(first === second)
        XCTAssertEqual(second.count, 49)
    }
}
