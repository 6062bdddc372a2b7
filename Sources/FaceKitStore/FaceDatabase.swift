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
    ///
    /// With `privacy`, the store keeps only the vector, the identity and the
    /// face's box: no image path, no image hash (no image or crop is ever stored).
    public func register(_ images: [ImageSource], identity: String, faces selection: FaceSelection = .largest,
                         privacy: Bool = false) throws -> Registration {
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
                if !privacy, case .path(let path) = images[i] { sha = try? ModelStore.sha256(ofFile: path) }
                for face in chosen {
                    records.append(FaceRecord(identity: name, embedding: face.embeddings[model.name]!,
                                              sourcePath: privacy ? nil : images[i].name,
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

    /// Enrols a folder tree: people in folders (DIR/alice/*.jpg is alice) or
    /// one file per person (DIR/alice.jpg). Every face of every image is
    /// stored, as find indexes them. Incremental, parallel and crash-safe as
    /// find is: a rerun processes only files added or changed, and removes
    /// the faces of files gone from the folder. With `privacy`, faces keep no
    /// path or hash of their image; files are then known by a content hash
    /// only, and files removed from the folder are not removed from the store.
    public func enrol(folder: String, privacy: Bool = false,
                      progress: (FolderIndex.Progress) -> Void = { _ in }) throws -> FolderIndex.Report {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FaceKitError.invalidInput("not a folder: \(folder)")
        }
        let url = URL(fileURLWithPath: folder).standardizedFileURL
        let prefix = url.path.hasSuffix("/") ? url.path : url.path + "/"
        return try FolderSync(folder: url, store: store, engine: engine, model: model, detection: detection,
                              signature: signature, keyPrefix: prefix, identity: .person, privacy: privacy)
            .refresh(progress: progress)
    }

    public struct ReindexReport: Sendable {
        /// Faces moved to the current pipeline.
        public var reindexed = 0
        /// Faces left under their old pipeline, with the reason (no source
        /// image kept, the image is gone or changed, no matching face found).
        public var kept: [(id: Int64, identity: String, reason: String)] = []
        public var images = 0
        public var seconds: TimeInterval = 0
    }

    /// Recomputes, under this pipeline, every face of this model stored under
    /// an older one (other weights, detector, alignment or FaceKit version):
    /// from its source image, when that image is still there with the same
    /// SHA-256. Each face keeps its identity, source path and hash; its box
    /// is the new detection that overlaps the old box most. Each image's
    /// faces swap in one transaction, so a killed reindex resumes where it
    /// stopped and never leaves a face in both pipelines or in neither.
    public func reindex(progress: (FolderIndex.Progress) -> Void = { _ in }) throws -> ReindexReport {
        let start = Date()
        var report = ReindexReport()
        let stale = try store.staleFaces(model: model.name, current: signature)
        var byImage: [String: [StaleFace]] = [:]
        for face in stale {
            guard let path = face.sourcePath, face.sourceSHA256 != nil else {
                report.kept.append((face.id, face.identity, "no source image was kept (privacy, or not a file)"))
                continue
            }
            byImage[path, default: []].append(face)
        }
        let paths = byImage.keys.sorted()
        report.images = paths.count
        guard !paths.isEmpty else { report.seconds = Date().timeIntervalSince(start); return report }
        try engine.prepare(detector: detection.detector, models: [model.name])
        let batchSize = max(16, engine.workers * 8)
        var done = 0
        for batchStart in stride(from: 0, to: paths.count, by: batchSize) {
            let batch = Array(paths[batchStart..<min(batchStart + batchSize, paths.count)])
            var usable: [String] = []
            for path in batch {
                let faces = byImage[path]!
                let current = try? ModelStore.sha256(ofFile: path)
                if current == nil || current != faces[0].sourceSHA256 {
                    let reason = current == nil ? "source image \(path) is gone" : "source image \(path) changed since it was registered"
                    report.kept += faces.map { ($0.id, $0.identity, reason) }
                } else {
                    usable.append(path)
                }
            }
            let results = engine.embedAll(usable.map { ImageSource.path($0) }, models: [model], options: detection)
            for (path, result) in zip(usable, results) {
                let faces = byImage[path]!
                guard case .success(let embedded) = result else {
                    if case .failure(let error) = result { report.kept += faces.map { ($0.id, $0.identity, error.description) } }
                    continue
                }
                var oldIDs: [Int64] = []
                var records: [FaceRecord] = []
                for face in faces {
                    let best = embedded.faces.max { Self.overlap($0.facialArea, face.facialArea) < Self.overlap($1.facialArea, face.facialArea) }
                    guard let best, Self.overlap(best.facialArea, face.facialArea) >= 0.3 else {
                        report.kept.append((face.id, face.identity, "no face of \(path) overlaps its stored box under the new pipeline"))
                        continue
                    }
                    oldIDs.append(face.id)
                    records.append(FaceRecord(identity: face.identity, embedding: best.embeddings[model.name]!, sourcePath: path,
                                              sourceSHA256: face.sourceSHA256, facialArea: best.facialArea,
                                              faceConfidence: best.confidence))
                }
                if !records.isEmpty {
                    try store.replace(oldIDs, with: records, signature: signature)
                    report.reindexed += records.count
                }
            }
            done += batch.count
            progress(FolderIndex.Progress(done: done, total: paths.count, elapsed: Date().timeIntervalSince(start),
                                          failures: report.kept.count))
        }
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    /// Intersection over union of two boxes.
    static func overlap(_ a: FacialArea, _ b: FacialArea) -> Double {
        let w = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
        let h = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
        let inter = Double(w * h)
        let union = Double(a.w * a.h + b.w * b.h) - inter
        return union > 0 ? inter / union : 0
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

    /// deepface's search: for each face of the image, the stored
    /// faces within the threshold, or every stored face with
    /// `similaritySearch`, nearest first, at most `k`. Like deepface, a store
    /// with no face under this pipeline is an error, not an empty answer.
    public func search(_ image: ImageSource, k: Int?, similaritySearch: Bool, metric: DistanceMetric = .cosine,
                       threshold: Double? = nil, mode: SearchMode = .exact) throws -> [SearchResult] {
        if let k, k < 1 { throw FaceKitError.invalidInput("k must be at least 1") }
        let threshold = try threshold ?? Thresholds.threshold(model: model.name, metric: metric)
        guard try store.count(signature: signature) > 0 else {
            throw FaceKitError.invalidInput("""
                no faces are registered for model \(model.name), detector \(detection.detector.rawValue), \
                align \(detection.align), expand \(detection.expandPercentage); register some first
                """)
        }
        return try search(image, limit: SearchLimit(top: k, maxDistance: similaritySearch ? nil : threshold),
                          metric: metric, threshold: threshold, mode: mode)
    }

    /// The `top` nearest stored faces to each face of the image, with
    /// deepface's verdict (distance within the threshold) and confidence.
    public func search(_ image: ImageSource, top: Int, metric: DistanceMetric = .cosine,
                       threshold: Double? = nil, mode: SearchMode = .exact) throws -> [SearchResult] {
        let threshold = try threshold ?? Thresholds.threshold(model: model.name, metric: metric)
        return try search(image, limit: .top(top), metric: metric, threshold: threshold, mode: mode)
    }

    private func search(_ image: ImageSource, limit: SearchLimit, metric: DistanceMetric, threshold: Double,
                        mode: SearchMode) throws -> [SearchResult] {
        let faces = try engine.represent(image, model: model.name, options: detection)
        return try faces.map { face in
            let hits = try store.search(face.embedding, signature: signature, metric: metric, limit: limit, mode: mode)
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
