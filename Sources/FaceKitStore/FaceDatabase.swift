import FaceKit
import Foundation

/// Register and search people in a face store under one pipeline: the
/// engine that embeds, the store that keeps, the signature that ties them.
public final class FaceDatabase: Sendable {
    public let engine: FaceEngine
    public let store: any VectorStore
    public let model: RecognitionModelInfo
    public let detection: DetectionOptions
    public let signature: PipelineSignature

    public init(store: any VectorStore, engine: FaceEngine, model: String, detection: DetectionOptions) throws {
        self.store = store
        self.engine = engine
        self.model = try RecognitionModels.named(model)
        self.detection = detection
        self.signature = try PipelineSignature.current(model: self.model, detection: detection, models: engine.store)
    }

    public struct Registration: Sendable {
        public struct Entry: Sendable {
            public let image: String
            public let id: Int64
            public let facialArea: FacialArea
            /// Faces found in the image; only the largest is registered.
            public let facesInImage: Int
        }
        public var registered: [Entry] = []
        public var failures: [(image: String, error: FaceKitError)] = []
    }

    /// Which faces of an image `register` stores.
    public enum FaceSelection: String, Sendable, CaseIterable {
        /// Only the largest: a photo of one person may show others behind them.
        case largest
        /// Every face, all under the one name (deepface's register).
        case all
    }

    /// Registers the largest face (or every face) of each image under
    /// `identity`, all in one transaction. Images that cannot be used are
    /// reported, not registered; when none can, the first failure is thrown.
    public func register(_ images: [ImageSource], identity: String, faces selection: FaceSelection = .largest) throws -> Registration {
        let name = identity.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty else { throw FaceKitError.invalidInput("an identity needs a non-empty name") }
        try engine.prepare(detector: detection.detector, models: [model.name])
        let results = engine.embedAll(images, models: [model], options: detection)
        var registration = Registration()
        var records: [FaceRecord] = []
        var kept: [(image: String, area: FacialArea, faces: Int)] = []
        for (i, outcome) in results.enumerated() {
            switch outcome {
            case .failure(let error):
                registration.failures.append((images[i].name, error))
            case .success(let embedded):
                let largest = embedded.faces.max(by: { $0.facialArea.w * $0.facialArea.h < $1.facialArea.w * $1.facialArea.h })
                let chosen = selection == .all ? embedded.faces : largest.map { [$0] } ?? []
                guard !chosen.isEmpty else {
                    registration.failures.append((images[i].name, .noFaceDetected(source: images[i].name)))
                    continue
                }
                var sha: String?
                if case .path(let path) = images[i] { sha = try? ModelStore.sha256(ofFile: path) }
                for face in chosen {
                    records.append(FaceRecord(identity: name, embedding: face.embeddings[model.name]!, sourcePath: images[i].name,
                                              sourceSHA256: sha, facialArea: face.facialArea, faceConfidence: face.confidence))
                    kept.append((images[i].name, face.facialArea, embedded.faces.count))
                }
            }
        }
        if records.isEmpty, let first = registration.failures.first { throw first.error }
        let ids = try store.add(records, signature: signature)
        registration.registered = zip(ids, kept).map { Registration.Entry(image: $1.image, id: $0, facialArea: $1.area, facesInImage: $1.faces) }
        return registration
    }

    public struct SearchResult: Sendable {
        public let facialArea: FacialArea
        public let matches: [Match]
    }

    public struct Match: Sendable, Encodable {
        public let id: Int64
        public let identity: String
        public let distance: Double
        public let threshold: Double
        public let verified: Bool
        public let confidence: Double
        public let sourcePath: String?

        enum CodingKeys: String, CodingKey {
            case id, identity, distance, threshold, verified, confidence
            case sourcePath = "source_path"
        }
    }

    /// deepface's search (exact): for each face of the image, the stored
    /// faces within the threshold, or every stored face with
    /// `similaritySearch`, nearest first, at most `k`. Like deepface, a store
    /// with no face under this pipeline is an error, not an empty answer.
    public func search(_ image: ImageSource, k: Int?, similaritySearch: Bool, metric: DistanceMetric = .cosine,
                       threshold: Double? = nil) throws -> [SearchResult] {
        if let k, k < 1 { throw FaceKitError.invalidInput("k must be at least 1") }
        let threshold = try threshold ?? Thresholds.threshold(model: model.name, metric: metric)
        guard try store.count(signature: signature) > 0 else {
            throw FaceKitError.invalidInput("""
                no faces are registered for model \(model.name), detector \(detection.detector.rawValue), \
                align \(detection.align), expand \(detection.expandPercentage); register some first
                """)
        }
        return try search(image, limit: SearchLimit(top: k, maxDistance: similaritySearch ? nil : threshold),
                          metric: metric, threshold: threshold)
    }

    /// The `top` nearest stored faces to each face of the image, with
    /// deepface's verdict (distance within the threshold) and confidence.
    public func search(_ image: ImageSource, top: Int, metric: DistanceMetric = .cosine,
                       threshold: Double? = nil) throws -> [SearchResult] {
        let threshold = try threshold ?? Thresholds.threshold(model: model.name, metric: metric)
        return try search(image, limit: .top(top), metric: metric, threshold: threshold)
    }

    private func search(_ image: ImageSource, limit: SearchLimit, metric: DistanceMetric, threshold: Double) throws -> [SearchResult] {
        let faces = try engine.represent(image, model: model.name, options: detection)
        return try faces.map { face in
            let hits = try store.search(face.embedding, signature: signature, metric: metric, limit: limit)
            return SearchResult(facialArea: face.facialArea, matches: hits.map { hit in
                let verified = hit.distance <= threshold
                return Match(id: hit.id, identity: hit.identity, distance: hit.distance, threshold: threshold, verified: verified,
                             confidence: ConfidenceCalibration.confidence(distance: hit.distance, model: model.name,
                                                                          metric: metric, verified: verified),
                             sourcePath: hit.sourcePath)
            })
        }
    }
}
