import FaceKit
import Foundation
import GRDB

/// deepface's `find` over a folder of images: every image's faces embedded
/// once and cached in a SQLite file inside the folder, named after the
/// pipeline; each later run processes only the images added, changed or
/// removed since.
public final class FolderIndex: Sendable {
    /// The folder as the caller named it: identities are this joined with
    /// each image's path inside it, as deepface's os.path.join gives them.
    public let root: String
    public let folder: URL
    public let engine: FaceEngine
    public let model: RecognitionModelInfo
    public let detection: DetectionOptions
    public let signature: PipelineSignature
    public let store: SQLiteVectorStore

    /// deepface's list of image extensions.
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

    /// - Parameter name: how identities spell the folder, when not as
    ///   `folder` (the server reads a client's relative db_path at its real
    ///   place, and answers with the client's spelling, as deepface would).
    public init(folder location: String, named name: String? = nil, engine: FaceEngine, model: String,
                detection: DetectionOptions) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: location, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FaceKitError.invalidInput("not a folder: \(name ?? location)")
        }
        self.root = name ?? location
        self.folder = URL(fileURLWithPath: location).standardizedFileURL
        self.engine = engine
        self.model = try RecognitionModels.named(model)
        self.detection = detection
        self.signature = try PipelineSignature.current(model: self.model, detection: detection, models: engine.store)
        self.store = try SQLiteVectorStore(path: folder.appendingPathComponent(signature.fileName).path)
    }

    // MARK: indexing

    public struct Progress: Sendable {
        public let done: Int
        public let total: Int
        public let elapsed: TimeInterval
        public let failures: Int
    }

    public struct Failure: Sendable, Equatable {
        public let path: String
        public let message: String
    }

    public struct Report: Sendable {
        public var images = 0
        public var added = 0
        public var changed = 0
        public var removed = 0
        public var unchanged = 0
        /// Images decoded and embedded in this run (added + changed).
        public var processed = 0
        public var facesAdded = 0
        /// Images that could not be used (no face, unreadable), reported and skipped.
        public var failures: [Failure] = []
        public var seconds: TimeInterval = 0
        /// Faces in the index after the run.
        public var faces = 0

        public var imagesPerSecond: Double { seconds > 0 ? Double(processed) / seconds : 0 }
    }

    /// The loop that does the work, shared with `register --from`.
    var sync: FolderSync {
        FolderSync(folder: folder, store: store, engine: engine, model: model, detection: detection, signature: signature,
                   keyPrefix: "", identity: .path(root: root), privacy: false)
    }

    /// Brings the cache in line with the folder. Images are processed in
    /// batches in parallel; each batch commits on its own, so a killed run
    /// keeps what it finished and the next run picks up the rest.
    public func refresh(progress: (Progress) -> Void = { _ in }) throws -> Report {
        try sync.refresh(progress: progress)
    }

    /// The identity deepface reports for an image: os.path.join(db_path, file).
    public func identity(of relative: String) -> String {
        root.hasSuffix("/") ? root + relative : root + "/" + relative
    }

    // MARK: finding

    /// One match of deepface's find result, with its keys.
    public struct Match: Sendable, Equatable, Encodable {
        public let identity: String
        /// SHA-256 of the image's bytes (deepface's is a SHA-1 of its size and times).
        public let hash: String
        public let targetX: Int, targetY: Int, targetW: Int, targetH: Int
        public let threshold: Double
        public let sourceX: Int, sourceY: Int, sourceW: Int, sourceH: Int
        public let distance: Double
        public let confidence: Double

        enum CodingKeys: String, CodingKey {
            case identity, hash, threshold, distance, confidence
            case targetX = "target_x", targetY = "target_y", targetW = "target_w", targetH = "target_h"
            case sourceX = "source_x", sourceY = "source_y", sourceW = "source_w", sourceH = "source_h"
        }
    }

    /// deepface's find on the indexed folder: for each face in the image,
    /// the stored faces within the threshold (every face with
    /// `similaritySearch`), nearest first (at most `top`).
    public func find(_ image: ImageSource, metric: DistanceMetric = .cosine, threshold: Double? = nil,
                     top: Int? = nil, similaritySearch: Bool = false) throws -> [[Match]] {
        try find(query: try engine.represent(image, model: model.name, options: detection), metric: metric, threshold: threshold,
                 top: top, similaritySearch: similaritySearch)
    }

    /// deepface's find in one call: refresh, then find. The query image's
    /// faces do not depend on the folder, so they are represented while the
    /// folder is indexed instead of after it (~40 ms less on 64 images).
    /// Throws when the refresh fails; the find's own failure (the query has
    /// no face, say) comes with the report of the refresh that did happen.
    public func refreshAndFind(_ image: ImageSource, metric: DistanceMetric = .cosine, threshold: Double? = nil,
                               top: Int? = nil, similaritySearch: Bool = false,
                               progress: (Progress) -> Void = { _ in }) throws -> (report: Report, matches: Result<[[Match]], Error>) {
        let query = Locked<Result<[Representation], Error>?>(nil)
        let represented = DispatchSemaphore(value: 0)
        let engine = self.engine, model = self.model.name, detection = self.detection
        // The query and any image to index need the networks: they load now,
        // beside the folder's listing and the query's decoding, rather than
        // once the listing is done (the first image starts ~5 ms sooner). A
        // failure is reported by the query and by the refresh themselves.
        DispatchQueue.global(qos: .userInitiated).async {
            try? engine.prepare(detector: detection.detector, models: [model])
        }
        DispatchQueue.global(qos: .userInitiated).async {
            let result = Result { try engine.represent(image, model: model, options: detection) }
            query.withLock { $0 = result }
            represented.signal()
        }
        let report: Report
        do {
            report = try refresh(progress: progress)
        } catch {
            represented.wait()
            throw error
        }
        represented.wait()
        return (report, Result {
            try find(query: try query.withLock { $0! }.get(), metric: metric, threshold: threshold, top: top,
                     similaritySearch: similaritySearch)
        })
    }

    private func find(query: [Representation], metric: DistanceMetric, threshold: Double?, top: Int?,
                      similaritySearch: Bool) throws -> [[Match]] {
        let threshold = try threshold ?? Thresholds.threshold(model: model.name, metric: metric)
        return try query.map { face in
            let hits = try store.search(face.embedding, signature: signature, metric: metric,
                                        limit: SearchLimit(top: top, maxDistance: similaritySearch ? nil : threshold))
            return hits.map { hit in
                let t = hit.facialArea, s = face.facialArea
                return Match(identity: identity(of: hit.sourcePath ?? hit.identity), hash: hit.sourceSHA256 ?? "",
                             targetX: t.x, targetY: t.y, targetW: t.w, targetH: t.h, threshold: threshold,
                             sourceX: s.x, sourceY: s.y, sourceW: s.w, sourceH: s.h, distance: hit.distance,
                             confidence: ConfidenceCalibration.confidence(distance: hit.distance, model: model.name,
                                                                          metric: metric, verified: hit.distance <= threshold))
            }
        }
    }
}
