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

    struct DiskFile {
        let path: String      // relative to the folder
        let size: Int64
        let mtime: Double
    }

    struct Known {
        let size: Int64
        let mtime: Double
        let sha256: String
    }

    /// Brings the cache in line with the folder. Images are processed in
    /// batches in parallel; each batch commits on its own, so a killed run
    /// keeps what it finished and the next run picks up the rest.
    public func refresh(progress: (Progress) -> Void = { _ in }) throws -> Report {
        let start = Date()
        var report = Report()
        let disk = try listImages()
        report.images = disk.count
        guard !disk.isEmpty else { throw FaceKitError.invalidInput("no images (.jpg, .jpeg, .png) in \(root)") }

        let known: [String: Known] = try store.read { db in
            guard let sid = try store.existingSignatureID(signature, db) else { return [:] }
            var known: [String: Known] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT path, size, mtime, sha256 FROM indexed_file WHERE signature_id = ?",
                                        arguments: [sid]) {
                known[row[0]] = Known(size: row[1], mtime: row[2], sha256: row[3])
            }
            return known
        }

        // Size and mtime first; only a file whose stat moved is hashed, and
        // only a changed hash is processed again (a touched file is not).
        var pending: [(file: DiskFile, sha256: String?)] = []
        var touched: [(DiskFile, String)] = []
        for file in disk {
            guard let old = known[file.path] else {
                report.added += 1
                pending.append((file, nil))
                continue
            }
            if old.size == file.size && old.mtime == file.mtime {
                report.unchanged += 1
                continue
            }
            let sha = try hash(file.path)
            if sha == old.sha256 {
                report.unchanged += 1
                touched.append((file, sha))
            } else {
                report.changed += 1
                pending.append((file, sha))
            }
        }
        let onDisk = Set(disk.map(\.path))
        let removed = known.keys.filter { !onDisk.contains($0) }
        report.removed = removed.count

        if !removed.isEmpty || !touched.isEmpty {
            try store.write { db in
                let sid = try store.signatureID(signature, db)
                for path in removed {
                    try db.execute(sql: "DELETE FROM face WHERE signature_id = ? AND source_path = ?", arguments: [sid, path])
                    try db.execute(sql: "DELETE FROM indexed_file WHERE signature_id = ? AND path = ?", arguments: [sid, path])
                }
                for (file, _) in touched {
                    try db.execute(sql: "UPDATE indexed_file SET size = ?, mtime = ? WHERE signature_id = ? AND path = ?",
                                   arguments: [file.size, file.mtime, sid, file.path])
                }
            }
        }

        if !pending.isEmpty {
            // Missing models fail here, once, instead of marking every image bad.
            try engine.prepare(detector: detection.detector, models: [model.name])
            let batchSize = max(16, engine.workers * 8)
            var done = 0
            progress(Progress(done: 0, total: pending.count, elapsed: Date().timeIntervalSince(start), failures: 0))
            for batchStart in stride(from: 0, to: pending.count, by: batchSize) {
                let batch = Array(pending[batchStart..<min(batchStart + batchSize, pending.count)])
                let (faces, failures) = try process(batch)
                report.facesAdded += faces
                report.failures += failures
                done += batch.count
                report.processed = done
                progress(Progress(done: done, total: pending.count, elapsed: Date().timeIntervalSince(start),
                                  failures: report.failures.count))
            }
        }
        report.faces = try store.count(signature: signature)
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    /// Embeds one batch in parallel and commits it in one transaction.
    private func process(_ batch: [(file: DiskFile, sha256: String?)]) throws -> (faces: Int, failures: [Failure]) {
        let hashes = try batch.map { try $0.sha256 ?? hash($0.file.path) }
        let sources = batch.map { ImageSource.path(url(of: $0.file.path).path) }
        let results = engine.embedAll(sources, models: [model], options: detection)
        var failures: [Failure] = []
        var faces = 0
        try store.write { db in
            let sid = try store.signatureID(signature, db)
            for (i, entry) in batch.enumerated() {
                let file = entry.file
                let status: String
                var message: String?
                var records: [FaceRecord] = []
                switch results[i] {
                case .success(let embedded):
                    status = "ok"
                    records = embedded.faces.map { face in
                        FaceRecord(identity: file.path, embedding: face.embeddings[model.name]!, sourcePath: file.path,
                                   sourceSHA256: hashes[i], facialArea: face.facialArea, faceConfidence: face.confidence)
                    }
                case .failure(let error):
                    failures.append(Failure(path: identity(of: file.path), message: error.description))
                    // Only a verdict on the image itself is remembered; a
                    // failure of the machinery is retried next run.
                    guard error.category == .input else { continue }
                    if case .noFaceDetected = error { status = "no_face" } else { status = "unreadable" }
                    message = error.description
                }
                // Replacing, not adding: a changed image, or a run racing this
                // one on the same folder, never leaves two sets of faces.
                try db.execute(sql: "DELETE FROM face WHERE signature_id = ? AND source_path = ?", arguments: [sid, file.path])
                _ = try store.insert(records, signatureID: sid, dimensions: signature.dimensions, db)
                try db.execute(sql: """
                    INSERT OR REPLACE INTO indexed_file (signature_id, path, size, mtime, sha256, status, message, faces)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [sid, file.path, file.size, file.mtime, hashes[i], status, message, records.count])
                faces += records.count
            }
        }
        return (faces, failures)
    }

    func url(of relative: String) -> URL { folder.appendingPathComponent(relative) }

    func hash(_ relative: String) throws -> String {
        try ModelStore.sha256(ofFile: url(of: relative).path)
    }

    /// The identity deepface reports for an image: os.path.join(db_path, file).
    public func identity(of relative: String) -> String {
        root.hasSuffix("/") ? root + relative : root + "/" + relative
    }

    /// Every image under the folder (recursively, hidden files skipped), by
    /// path relative to it, in a stable order.
    func listImages() throws -> [DiskFile] {
        let keys: [URLResourceKey] = [.isRegularFileKey, .fileSizeKey, .contentModificationDateKey]
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: keys,
                                                          options: [.skipsHiddenFiles]) else {
            throw FaceKitError.io("cannot list \(root)")
        }
        let base = folder.path.hasSuffix("/") ? folder.path : folder.path + "/"
        var files: [DiskFile] = []
        for case let url as URL in walker {
            guard Self.imageExtensions.contains(url.pathExtension.lowercased()) else { continue }
            let values = try url.resourceValues(forKeys: Set(keys))
            guard values.isRegularFile == true else { continue }
            let full = url.standardizedFileURL.path
            guard full.hasPrefix(base) else { continue }
            files.append(DiskFile(path: String(full.dropFirst(base.count)), size: Int64(values.fileSize ?? 0),
                                  mtime: values.contentModificationDate?.timeIntervalSince1970 ?? 0))
        }
        return files.sorted { $0.path < $1.path }
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
        let threshold = try threshold ?? Thresholds.threshold(model: model.name, metric: metric)
        let query = try engine.represent(image, model: model.name, options: detection)
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
