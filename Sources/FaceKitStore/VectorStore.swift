import FaceKit
import Foundation

/// One face to store: its vector, who it is, and where it came from.
public struct FaceRecord: Sendable, Equatable {
    public var identity: String
    public var embedding: [Float]
    /// The image the face was cut from (path as given), if any.
    public var sourcePath: String?
    /// SHA-256 of the source image's bytes, if known.
    public var sourceSHA256: String?
    public var facialArea: FacialArea
    public var faceConfidence: Double

    public init(identity: String, embedding: [Float], sourcePath: String? = nil, sourceSHA256: String? = nil,
                facialArea: FacialArea = FacialArea(x: 0, y: 0, w: 0, h: 0), faceConfidence: Double = 0) {
        self.identity = identity
        self.embedding = embedding
        self.sourcePath = sourcePath
        self.sourceSHA256 = sourceSHA256
        self.facialArea = facialArea
        self.faceConfidence = faceConfidence
    }
}

/// A stored face that a search returned, with its distance to the query
/// (deepface's distance: double precision, six decimals).
public struct StoredMatch: Sendable, Equatable {
    public var id: Int64
    public var identity: String
    public var distance: Double
    public var sourcePath: String?
    public var sourceSHA256: String?
    public var facialArea: FacialArea
}

public struct IdentitySummary: Sendable, Equatable {
    public var identity: String
    public var faces: Int
    /// Models of the pipelines this identity has vectors under.
    public var models: [String]
}

/// How many results a search returns: the k nearest, every face within a
/// distance (deepface's find), or both limits at once.
public struct SearchLimit: Sendable, Equatable {
    public var top: Int?
    public var maxDistance: Double?

    public init(top: Int? = nil, maxDistance: Double? = nil) {
        self.top = top
        self.maxDistance = maxDistance
    }

    public static func top(_ k: Int) -> SearchLimit { SearchLimit(top: k) }
    public static func within(_ distance: Double) -> SearchLimit { SearchLimit(maxDistance: distance) }
}

/// How a search finds its neighbours.
public enum SearchMode: String, Sendable, CaseIterable {
    /// Every vector compared with the query: the true nearest, always.
    case exact
    /// An approximate index (faiss in the embedded store, pgvector's HNSW in
    /// PostgreSQL): far faster on large stores, may miss a true neighbour.
    /// Candidates are scored again exactly, so reported distances are exact.
    case ann
}

/// The one interface every face store implements: the embedded SQLite store
/// and PostgreSQL with pgvector. A store holds vectors of many pipelines side
/// by side and never compares across them.
public protocol VectorStore: Sendable {
    /// Where the store lives (a file path, or a URL without its password).
    var location: String { get }

    /// Searches with the given mode; `searchPlan` says what a mode becomes.
    func search(_ query: [Float], signature: PipelineSignature, metric: DistanceMetric,
                limit: SearchLimit, mode: SearchMode) throws -> [StoredMatch]

    /// The mode a search of this signature and metric will really run in,
    /// and why when that is not the one asked for (an index that cannot hold
    /// the vectors, a limit an index cannot serve).
    func searchPlan(_ mode: SearchMode, signature: PipelineSignature, metric: DistanceMetric,
                    limit: SearchLimit) throws -> (mode: SearchMode, note: String?)

    /// Adds faces atomically: all of them or none. Returns their ids in order.
    @discardableResult
    func add(_ faces: [FaceRecord], signature: PipelineSignature) throws -> [Int64]


    /// Removes everything about an identity: every face under every
    /// pipeline, and the ledger entries of its images. Returns how many faces.
    @discardableResult
    func delete(identity: String) throws -> Int

    /// Removes one face. Returns whether it existed.
    @discardableResult
    func delete(id: Int64) throws -> Bool

    /// Identities with their face counts; only those of one pipeline when given.
    func identities(signature: PipelineSignature?) throws -> [IdentitySummary]

    /// How many faces a pipeline has.
    func count(signature: PipelineSignature) throws -> Int

    // The ledger of indexed image files (find's folder cache, register --from):
    // what was seen of each file, so that a later run processes only what
    // was added, changed or removed. A file's faces carry its ledger path as
    // their source path.

    /// The ledger entries of a pipeline whose path starts with `prefix`.
    func ledger(signature: PipelineSignature, under prefix: String) throws -> [String: LedgerEntry]

    /// In one transaction: each file's faces replaced by its records (so a
    /// changed file, or two runs racing on one folder, never leave two sets)
    /// and its ledger entry written.
    func commit(_ updates: [LedgerUpdate], signature: PipelineSignature) throws

    /// Faces of `model` stored under any pipeline but `current`: what
    /// `reindex` recomputes.
    func staleFaces(model: String, current: PipelineSignature) throws -> [StaleFace]

    /// In one transaction: the faces `oldIDs` removed and `records` added
    /// under `signature` (reindex's swap; nothing is ever half-swapped).
    @discardableResult
    func replace(_ oldIDs: [Int64], with records: [FaceRecord], signature: PipelineSignature) throws -> [Int64]

    /// In one transaction: files gone from disk lose their faces and entries;
    /// files touched but unchanged get their new size and mtime.
    func reconcile(removed: [String], touched: [LedgerEntry], signature: PipelineSignature) throws
}

/// A face stored under an older pipeline of its model.
public struct StaleFace: Sendable, Equatable {
    public var id: Int64
    public var identity: String
    public var sourcePath: String?
    public var sourceSHA256: String?
    public var facialArea: FacialArea
    /// The key of the pipeline it was computed under.
    public var signatureKey: String
}

/// What a store remembers of one indexed image file.
public struct LedgerEntry: Sendable, Equatable {
    public var path: String
    public var size: Int64
    public var mtime: Double
    public var sha256: String

    public init(path: String, size: Int64, mtime: Double, sha256: String) {
        self.path = path
        self.size = size
        self.mtime = mtime
        self.sha256 = sha256
    }
}

/// One processed file: its entry, the verdict, and the faces to keep.
public struct LedgerUpdate: Sendable {
    public enum Status: String, Sendable { case ok, noFace = "no_face", unreadable }
    public var entry: LedgerEntry
    public var status: Status
    public var message: String?
    public var records: [FaceRecord]

    public init(entry: LedgerEntry, status: Status, message: String? = nil, records: [FaceRecord]) {
        self.entry = entry
        self.status = status
        self.message = message
        self.records = records
    }
}

extension VectorStore {
    /// Exact search: every vector of the signature is compared with the
    /// query; results sorted by distance, nearest first.
    public func search(_ query: [Float], signature: PipelineSignature, metric: DistanceMetric,
                       limit: SearchLimit) throws -> [StoredMatch] {
        try search(query, signature: signature, metric: metric, limit: limit, mode: .exact)
    }
}
