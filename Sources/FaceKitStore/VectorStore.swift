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

/// The one interface every face store implements (SQLite now; PostgreSQL
/// with pgvector behind the same calls). A store holds vectors of many
/// pipelines side by side and never compares across them.
public protocol VectorStore: Sendable {
    /// Adds faces atomically: all of them or none. Returns their ids in order.
    @discardableResult
    func add(_ faces: [FaceRecord], signature: PipelineSignature) throws -> [Int64]

    /// Exact search: every vector of the signature is compared with the
    /// query; results sorted by distance, nearest first.
    func search(_ query: [Float], signature: PipelineSignature, metric: DistanceMetric,
                limit: SearchLimit) throws -> [StoredMatch]

    /// Removes every face of an identity, under every pipeline. Returns how many.
    @discardableResult
    func delete(identity: String) throws -> Int

    /// Removes one face. Returns whether it existed.
    @discardableResult
    func delete(id: Int64) throws -> Bool

    /// Identities with their face counts; only those of one pipeline when given.
    func identities(signature: PipelineSignature?) throws -> [IdentitySummary]

    /// How many faces a pipeline has.
    func count(signature: PipelineSignature) throws -> Int
}
