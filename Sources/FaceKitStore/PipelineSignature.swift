import FaceKit
import Foundation

/// Everything that decides what numbers an embedding holds. Vectors from two
/// different signatures are not comparable (deepface users meet this as
/// "embeddings changed silently between releases"), so every stored vector
/// carries one and a search only ever looks at vectors of its own.
///
/// The distance metric is not part of it: the same vectors serve every metric.
public struct PipelineSignature: Sendable, Hashable, Codable {
    public var model: String
    /// SHA-256 of the model's weight files, joined with "+" when there are several.
    public var modelSHA256: String
    public var dimensions: Int
    public var detector: String
    public var align: Bool
    public var alignment: String
    public var expandPercentage: Int
    /// deepface's `normalization` argument; FaceKit's models use "base".
    public var normalization: String
    public var version: String

    public init(model: String, modelSHA256: String, dimensions: Int, detector: String, align: Bool,
                alignment: String, expandPercentage: Int, normalization: String = "base",
                version: String = FaceKitVersion.string) {
        self.model = model
        self.modelSHA256 = modelSHA256
        self.dimensions = dimensions
        self.detector = detector
        self.align = align
        self.alignment = alignment
        self.expandPercentage = expandPercentage
        self.normalization = normalization
        self.version = version
    }

    /// The signature of the pipeline FaceKit runs for these options, with the
    /// digest of the weights actually on disk (not the registry's expectation:
    /// a swapped file must not pass for the old one).
    public static func current(model: RecognitionModelInfo, detection: DetectionOptions,
                               models: ModelStore = ModelStore()) throws -> PipelineSignature {
        let cache = DigestCache(store: models)
        let digests = try model.files.map { file in
            try cache.sha256(ofFile: try models.require(file, for: model.name))
        }
        return PipelineSignature(
            model: model.name, modelSHA256: digests.joined(separator: "+"), dimensions: model.dimensions,
            detector: detection.detector.rawValue, align: detection.align, alignment: detection.alignment.rawValue,
            expandPercentage: detection.expandPercentage, normalization: detection.normalization.rawValue)
    }

    /// One string that is equal exactly when the signatures are; the database
    /// keys on it.
    public var key: String {
        ["model=\(model)", "sha256=\(modelSHA256)", "dims=\(dimensions)", "detector=\(detector)",
         "align=\(align)", "alignment=\(alignment)", "expand=\(expandPercentage)",
         "normalization=\(normalization)", "facekit=\(version)"].joined(separator: ";")
    }

    /// deepface names its folder cache after the pipeline
    /// (ds_model_sface_detector_yunet_aligned_normalization_base_expand_0.npz);
    /// FaceKit keeps that name, adds its alignment mode, and uses SQLite.
    /// Weights and version are not in the name: a change there re-indexes
    /// the same file instead of leaving a stale one behind.
    public var fileName: String {
        let parts = ["ds", "model", model, "detector", detector, align ? "aligned" : "unaligned",
                     "normalization", normalization, "expand", String(expandPercentage), "alignment", alignment]
        return parts.joined(separator: "_").replacingOccurrences(of: "-", with: "").lowercased() + ".facekit.sqlite"
    }
}
