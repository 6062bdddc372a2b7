import FaceKit
@testable import FaceKitStore
import Foundation
import XCTest

/// The store contract on synthetic vectors: exact answers, deletes,
/// identities, signature isolation, several handles on one store, and the
/// ANN index kept in step with the rows. This class runs it on the SQLite
/// store; PostgresVectorStoreTests runs the same tests on PostgreSQL.
class VectorStoreTests: ScratchFolderTestCase {
    /// A handle on this test's store; each call is a new handle on the same one.
    func openStore() throws -> any VectorStore {
        try SQLiteVectorStore(path: directory.appendingPathComponent("faces.sqlite").path)
    }

    /// A handle whose ANN index is used at any size and searches so wide
    /// that it must agree with the exact search (IVF probing every list; the
    /// HNSW kind runs the same test in SQLiteHNSWStoreTests).
    func openStoreWithWideANN() throws -> any VectorStore {
        try SQLiteVectorStore(path: directory.appendingPathComponent("faces.sqlite").path,
                              ann: ANNOptions(kind: .ivf, probeFraction: 1, minimumCount: 0))
    }

    func signature(model: String = "SFace", sha: String = "a", dimensions: Int = 20) -> PipelineSignature {
        StoreFixtures.signature(model: model, sha: sha, dimensions: dimensions)
    }

    func vectors(_ count: Int, dimensions: Int, seed: UInt64) -> [[Float]] {
        StoreFixtures.vectors(count, dimensions: dimensions, seed: seed)
    }

    func testSearchEqualsBruteForceForEveryMetric() throws {
        let store = try openStore()
        // 20 dimensions: two SIMD8 blocks and a scalar tail.
        let sig = signature(dimensions: 20)
        let data = vectors(300, dimensions: 20, seed: 7)
        let ids = try store.add(data.enumerated().map { FaceRecord(identity: "p\($0.offset % 30)", embedding: $0.element) }, signature: sig)
        XCTAssertEqual(ids.count, 300)
        for query in vectors(5, dimensions: 20, seed: 99) {
            for metric in DistanceMetric.allCases {
                let expected = try zip(ids, data).map { (id: $0.0, d: try metric.distance(query, $0.1)) }
                    .sorted { $0.d != $1.d ? $0.d < $1.d : $0.id < $1.id }
                let top = try store.search(query, signature: sig, metric: metric, limit: .top(10))
                XCTAssertEqual(top.map(\.id), expected.prefix(10).map(\.id), "\(metric)")
                XCTAssertEqual(top.map(\.distance), expected.prefix(10).map(\.d), "\(metric)")
                let cut = expected[40].d
                let within = try store.search(query, signature: sig, metric: metric, limit: .within(cut))
                XCTAssertEqual(within.map(\.id), expected.filter { $0.d <= cut }.map(\.id), "\(metric)")
            }
        }
    }

    func testDeleteByIdentityAndIdAndListIdentities() throws {
        let store = try openStore()
        let sig = signature()
        let data = vectors(6, dimensions: 20, seed: 1)
        let ids = try store.add(data.enumerated().map { FaceRecord(identity: $0.offset < 4 ? "alice" : "bob", embedding: $0.element) },
                                signature: sig)
        XCTAssertEqual(try store.identities(signature: nil), [
            IdentitySummary(identity: "alice", faces: 4, models: ["SFace"]),
            IdentitySummary(identity: "bob", faces: 2, models: ["SFace"]),
        ])
        XCTAssertTrue(try store.delete(id: ids[0]))
        XCTAssertFalse(try store.delete(id: ids[0]))
        XCTAssertFalse(try store.search(data[0], signature: sig, metric: .cosine, limit: .top(6)).contains { $0.id == ids[0] })
        XCTAssertEqual(try store.delete(identity: "alice"), 3)
        XCTAssertEqual(try store.identities(signature: nil).map(\.identity), ["bob"])
        XCTAssertEqual(Set(try store.search(data[4], signature: sig, metric: .cosine, limit: .top(10)).map(\.identity)), ["bob"])
        // Ids are never reused, so an old id cannot delete a newer face.
        let newer = try store.add([FaceRecord(identity: "carol", embedding: data[0])], signature: sig)
        XCTAssertGreaterThan(newer[0], ids.max()!)
    }

    func testSearchNeverMixesPipelines() throws {
        let store = try openStore()
        let sface = signature(model: "SFace", sha: "a")
        let otherWeights = signature(model: "SFace", sha: "b")
        let data = vectors(3, dimensions: 20, seed: 3)
        try store.add(data.map { FaceRecord(identity: "x", embedding: $0) }, signature: sface)
        XCTAssertEqual(try store.search(data[0], signature: sface, metric: .cosine, limit: .top(5)).count, 3)
        XCTAssertEqual(try store.search(data[0], signature: otherWeights, metric: .cosine, limit: .top(5)).count, 0)
        try store.add([FaceRecord(identity: "y", embedding: data[1])], signature: otherWeights)
        XCTAssertEqual(try store.search(data[1], signature: otherWeights, metric: .cosine, limit: .top(5)).map(\.identity), ["y"])
        XCTAssertEqual(try store.count(signature: sface), 3)
        XCTAssertEqual(try store.identities(signature: otherWeights).map(\.identity), ["y"])
        // A vector of the wrong size is refused, not stored.
        XCTAssertThrowsError(try store.add([FaceRecord(identity: "z", embedding: [1, 2, 3])], signature: sface))
        XCTAssertEqual(try store.count(signature: sface), 3)
    }

    func testASecondHandleSeesWritesAndCachedMatrixFollows() throws {
        let first = try openStore()
        let second = try openStore()
        let sig = signature()
        let data = vectors(4, dimensions: 20, seed: 5)
        try first.add([FaceRecord(identity: "a", embedding: data[0])], signature: sig)
        XCTAssertEqual(try second.search(data[0], signature: sig, metric: .cosine, limit: .top(5)).map(\.identity), ["a"])
        // The second handle has a loaded matrix now; a write through the first must reach it.
        try first.add([FaceRecord(identity: "b", embedding: data[1])], signature: sig)
        XCTAssertEqual(try second.search(data[1], signature: sig, metric: .cosine, limit: .top(1)).map(\.identity), ["b"])
        try first.delete(identity: "b")
        XCTAssertEqual(try second.search(data[1], signature: sig, metric: .cosine, limit: .top(5)).map(\.identity), ["a"])
    }

    func testANNAgreesWithExactAndFollowsAddsAndDeletes() throws {
        let store = try openStoreWithWideANN()
        let sig = signature(dimensions: 20)
        let data = vectors(400, dimensions: 20, seed: 21)
        let ids = try store.add(data.enumerated().map { FaceRecord(identity: "p\($0.offset % 40)", embedding: $0.element) },
                                signature: sig)
        XCTAssertEqual(try store.searchPlan(.ann, signature: sig, metric: .cosine, limit: .top(10)).mode, .ann)
        for query in vectors(5, dimensions: 20, seed: 77) {
            for metric in [DistanceMetric.cosine, .euclideanL2, .angular] {
                let exact = try store.search(query, signature: sig, metric: metric, limit: .top(10), mode: .exact)
                let ann = try store.search(query, signature: sig, metric: metric, limit: .top(10), mode: .ann)
                XCTAssertEqual(ann.map(\.id), exact.map(\.id), "\(metric)")
                XCTAssertEqual(ann.map(\.distance), exact.map(\.distance), "\(metric)")
            }
        }
        // Added after the index was built: found at once.
        let probe = vectors(1, dimensions: 20, seed: 1234)[0]
        let added = try store.add([FaceRecord(identity: "late", embedding: probe)], signature: sig)
        XCTAssertEqual(try store.search(probe, signature: sig, metric: .cosine, limit: .top(1), mode: .ann).first?.id, added[0])
        // Through another handle (another process), which loads or builds its own index.
        let other = try openStoreWithWideANN()
        XCTAssertEqual(try other.search(probe, signature: sig, metric: .cosine, limit: .top(1), mode: .ann).first?.id, added[0])
        // Deleted: gone from both handles' answers.
        XCTAssertTrue(try store.delete(id: added[0]))
        XCTAssertNotEqual(try store.search(probe, signature: sig, metric: .cosine, limit: .top(1), mode: .ann).first?.id, added[0])
        XCTAssertNotEqual(try other.search(probe, signature: sig, metric: .cosine, limit: .top(1), mode: .ann).first?.id, added[0])
        XCTAssertEqual(try store.delete(identity: "p0"), 10)
        let afterDelete = try other.search(data[0], signature: sig, metric: .cosine, limit: .top(10), mode: .ann)
        XCTAssertFalse(afterDelete.contains { $0.identity == "p0" })
        XCTAssertFalse(afterDelete.contains { $0.id == ids[0] })
        XCTAssertEqual(afterDelete.map(\.id),
                       try other.search(data[0], signature: sig, metric: .cosine, limit: .top(10), mode: .exact).map(\.id))
        // The index never answers for another pipeline.
        XCTAssertEqual(try store.search(data[1], signature: signature(sha: "other", dimensions: 20), metric: .cosine,
                                        limit: .top(5), mode: .ann).count, 0)
    }

    func testDeletingAnIdentityRemovesItsLedgerEntries() throws {
        let store = try openStore()
        let sig = signature(dimensions: 20)
        let data = vectors(3, dimensions: 20, seed: 4)
        func entry(_ path: String) -> LedgerEntry { LedgerEntry(path: path, size: 1, mtime: 2, sha256: "h-" + path) }
        try store.commit([
            LedgerUpdate(entry: entry("/d/alice/1.jpg"), status: .ok,
                         records: [FaceRecord(identity: "alice", embedding: data[0], sourcePath: "/d/alice/1.jpg")]),
            LedgerUpdate(entry: entry("/d/bob/1.jpg"), status: .ok,
                         records: [FaceRecord(identity: "bob", embedding: data[1], sourcePath: "/d/bob/1.jpg")]),
            LedgerUpdate(entry: entry("/d/empty.jpg"), status: .noFace, records: []),
        ], signature: sig)
        XCTAssertEqual(Set(try store.ledger(signature: sig, under: "/d/").keys), ["/d/alice/1.jpg", "/d/bob/1.jpg", "/d/empty.jpg"])
        XCTAssertEqual(try store.delete(identity: "alice"), 1)
        XCTAssertEqual(Set(try store.ledger(signature: sig, under: "/d/").keys), ["/d/bob/1.jpg", "/d/empty.jpg"])
        XCTAssertEqual(try store.identities(signature: nil).map(\.identity), ["bob"])
        XCTAssertEqual(try store.ledger(signature: sig, under: "/elsewhere/").count, 0)
    }

    func testConcurrentWritersAndReadersOnOneStoreLoseNothing() throws {
        let sig = signature(dimensions: 20)
        let data = vectors(200, dimensions: 20, seed: 31)
        let failures = Locked<[String]>([])
        let stores = try (0..<4).map { _ in try openStore() }
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            do {
                for i in stride(from: worker, to: data.count, by: 4) {
                    try stores[worker].add([FaceRecord(identity: "w\(worker)", embedding: data[i])], signature: sig)
                    _ = try stores[(worker + 1) % 4].search(data[i], signature: sig, metric: .cosine, limit: .top(3))
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        XCTAssertEqual(failures.withLock { $0 }, [])
        let reader = try openStore()
        XCTAssertEqual(try reader.count(signature: sig), 200)
        XCTAssertEqual(try reader.identities(signature: sig).map(\.faces), [50, 50, 50, 50])
        for i in [0, 57, 199] {
            XCTAssertEqual(try reader.search(data[i], signature: sig, metric: .euclidean, limit: .top(1)).first?.distance, 0)
        }
    }
}

/// What only the SQLite store has: GRDB's migration table, the byte layout
/// of its vectors, and the folder cache's file name.
/// Signatures and vectors the store tests share.
enum StoreFixtures {
    static func signature(model: String = "SFace", sha: String = "a", dimensions: Int = 20) -> PipelineSignature {
        PipelineSignature(model: model, modelSHA256: sha, dimensions: dimensions, detector: "yunet", align: true,
                          alignment: "deepface", expandPercentage: 0)
    }

    /// Reproducible pseudo-random vectors (a fixed LCG; no global RNG state).
    static func vectors(_ count: Int, dimensions: Int, seed: UInt64) -> [[Float]] {
        var state = seed
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2000 - 1000) / 1000
        }
        return (0..<count).map { _ in (0..<dimensions).map { _ in next() } }
    }
}

final class SQLiteStoreTests: ScratchFolderTestCase {
    func openStore() throws -> SQLiteVectorStore {
        try SQLiteVectorStore(path: directory.appendingPathComponent("faces.sqlite").path)
    }

    func testBothBackendsHaveTheSameMigrationSteps() {
        XCTAssertEqual(StoreSchema.migrator.migrations, StoreSchema.postgres.map(\.identifier))
    }

    func testMigrationsAreRecordedOnceAndReopenKeepsData() throws {
        let sig = StoreFixtures.signature()
        let v = StoreFixtures.vectors(1, dimensions: 20, seed: 11)[0]
        do {
            let store = try openStore()
            try store.add([FaceRecord(identity: "kept", embedding: v, sourcePath: "a.jpg", sourceSHA256: "00",
                                      facialArea: FacialArea(x: 1, y: 2, w: 3, h: 4), faceConfidence: 0.9)], signature: sig)
        }
        let store = try openStore()
        let applied = try store.pool.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations") }
        XCTAssertEqual(applied, StoreSchema.migrator.migrations)
        let hit = try XCTUnwrap(try store.search(v, signature: sig, metric: .euclidean, limit: .top(1)).first)
        XCTAssertEqual(hit.identity, "kept")
        XCTAssertEqual(hit.distance, 0)
        XCTAssertEqual(hit.sourcePath, "a.jpg")
        XCTAssertEqual(hit.facialArea, FacialArea(x: 1, y: 2, w: 3, h: 4))
        let stored = try store.pool.read { try Data.fetchOne($0, sql: "SELECT embedding FROM face")! }
        XCTAssertEqual(stored.count, 80)
        XCTAssertEqual(VectorCoding.decode(stored), v)
    }

    func testSignatureKeyAndFileName() {
        let a = StoreFixtures.signature()
        var b = a
        XCTAssertEqual(a.key, b.key)
        b.version = "9.9.9"
        XCTAssertNotEqual(a.key, b.key)
        XCTAssertEqual(a.fileName, b.fileName)
        XCTAssertEqual(a.fileName, "ds_model_sface_detector_yunet_aligned_normalization_base_expand_0_alignment_deepface.facekit.sqlite")
    }
}

/// The contract again with faiss' HNSW as the embedded store's ANN index:
/// it cannot remove vectors, so deletes rebuild it.
final class SQLiteHNSWStoreTests: VectorStoreTests {
    override func openStoreWithWideANN() throws -> any VectorStore {
        try SQLiteVectorStore(path: directory.appendingPathComponent("faces.sqlite").path,
                              ann: ANNOptions(kind: .hnsw, efSearch: 1000, minimumCount: 0))
    }
}

/// The contract again with the default ANN index, the 4-bit scan, asked to
/// re-rank every row (so it must agree with the exact search); it removes
/// deleted rows in place.
final class SQLiteSQ4StoreTests: VectorStoreTests {
    override func openStoreWithWideANN() throws -> any VectorStore {
        try SQLiteVectorStore(path: directory.appendingPathComponent("faces.sqlite").path,
                              ann: ANNOptions(kind: .sq4, candidates: 1000, minimumCount: 0))
    }

    func testDefaultANNIsTheScan() {
        XCTAssertEqual(ANNOptions().kind, .sq4)
        XCTAssertEqual(ANNOptions().description(for: 1_000_000), "SQ4")
        XCTAssertEqual(ANNOptions(kind: .hnsw).description(for: 1_000_000), "IDMap2,HNSW32")
    }

    /// With its default 100 candidates among 20,000 face-like vectors, the
    /// scan's top 10 is the exact top 10 (recall@10 >= 0.99 over 50 queries),
    /// and a handle that loads the saved index answers the same.
    func testDefaultScanRecallOnFaceLikeVectors() throws {
        let bench = StoreBenchmark(count: 20_000, dimensions: 128)
        let path = directory.appendingPathComponent("recall.sqlite").path
        let store = try SQLiteVectorStore(path: path, ann: ANNOptions(minimumCount: 0))
        let sig = bench.signature
        var records: [FaceRecord] = []
        for i in 0..<bench.count {
            records.append(FaceRecord(identity: "person\(i / 5)", embedding: bench.face(person: i / 5, index: i % 5)))
        }
        try store.add(records, signature: sig)
        var found = 0, total = 0
        let reopened = try SQLiteVectorStore(path: path, ann: ANNOptions(minimumCount: 0))
        for q in 0..<50 {
            let query = bench.face(person: (q * 397) % (bench.count / 5), index: 5 + q)
            let exact = Set(try store.search(query, signature: sig, metric: .cosine, limit: .top(10), mode: .exact).map(\.id))
            let ann = try store.search(query, signature: sig, metric: .cosine, limit: .top(10), mode: .ann).map(\.id)
            XCTAssertEqual(ann.count, 10)
            found += ann.filter { exact.contains($0) }.count
            total += exact.count
            XCTAssertEqual(try reopened.search(query, signature: sig, metric: .cosine, limit: .top(10), mode: .ann).map(\.id), ann)
        }
        XCTAssertGreaterThanOrEqual(Double(found) / Double(total), 0.99)
        let files = try FileManager.default.contentsOfDirectory(atPath: path + "-ann")
        XCTAssertTrue(files.contains { $0.hasSuffix(".sq4") }, "\(files)")
    }
}
