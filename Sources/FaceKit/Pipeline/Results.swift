/// One face's embedding, in deepface's represent shape.
public struct Representation: Sendable, Codable {
    public let embedding: [Float]
    public let facialArea: FacialArea
    public let faceConfidence: Double

    enum CodingKeys: String, CodingKey {
        case embedding
        case facialArea = "facial_area"
        case faceConfidence = "face_confidence"
    }
}

/// deepface's verify result, plus the similarity that goes with the distance.
public struct VerificationResult: Sendable, Codable {
    public let verified: Bool
    public let distance: Double
    public let threshold: Double
    public let confidence: Double
    public let model: String
    public let detectorBackend: String
    public let similarityMetric: String
    public let facialAreas: FacialAreas
    /// Seconds, two decimals, as deepface reports it.
    public let time: Double
    public let similarity: Double

    public struct FacialAreas: Sendable, Codable {
        public let img1: FacialArea
        public let img2: FacialArea
    }

    enum CodingKeys: String, CodingKey {
        case verified, distance, threshold, confidence, model
        case detectorBackend = "detector_backend"
        case similarityMetric = "similarity_metric"
        case facialAreas = "facial_areas"
        case time, similarity
    }
}

/// The faces of one image and their embeddings under one or more models.
public struct ImageEmbeddings: Sendable {
    public let source: String
    public let faces: [Face]

    public struct Face: Sendable {
        public let facialArea: FacialArea
        public let confidence: Double
        /// Keyed by model name.
        public let embeddings: [String: [Float]]
    }
}
