import FaceKit
import Foundation

/// Brings a store in line with a folder of images: the one incremental,
/// parallel, crash-safe indexing loop behind both `find` (the folder's own
/// cache) and `register --from` (any store, SQLite or PostgreSQL).
///
/// Files are compared with the store's ledger by size and mtime; only a file
/// whose stat moved is hashed, and only a changed hash is processed again.
/// Images are embedded in parallel batches; each batch commits in one
/// transaction, so a killed run keeps every finished batch and the next run
/// processes only the rest. A file's faces are replaced, never added to, so
/// nothing is duplicated by a rerun or a racing run.
struct FolderSync {
    enum IdentityRule {
        /// The file's path (find: os.path.join(db_path, file), as deepface).
        case path(root: String)
        /// The first folder under the root for people in folders
        /// (DIR/alice/1.jpg is alice), else the file's name without extension.
        case person
    }

    let folder: URL
    let store: any VectorStore
    let engine: FaceEngine
    let model: RecognitionModelInfo
    let detection: DetectionOptions
    let signature: PipelineSignature
    /// Prepended to each relative path to make its ledger key and source path.
    let keyPrefix: String
    let identity: IdentityRule
    /// Privacy: faces keep no source path or hash (only vector, identity and
    /// box); the ledger keys files by content hash instead of by path.
    let privacy: Bool

    struct DiskFile {
        let path: String  // relative to the folder
        let size: Int64
        let mtime: Double
    }

    func url(of relative: String) -> URL { folder.appendingPathComponent(relative) }

    func hash(_ relative: String) throws -> String { try ModelStore.sha256(ofFile: url(of: relative).path) }

    func identity(of relative: String) -> String {
        switch identity {
        case .path(let root):
            return root.hasSuffix("/") ? root + relative : root + "/" + relative
        case .person:
            let parts = relative.split(separator: "/")
            if parts.count > 1 { return String(parts[0]) }
            return (relative as NSString).deletingPathExtension
        }
    }

    /// How a failed image is named in reports: as find names its matches,
    /// or by its full path.
    func failurePath(_ relative: String) -> String {
        if case .path = identity { return identity(of: relative) }
        return url(of: relative).path
    }

    /// Every image under the folder (recursively, hidden files skipped), by
    /// path relative to it, in a stable order.
    func listImages() throws -> [DiskFile] {
        let keys: [URLResourceKey] = [.isRegularFileKey, .fileSizeKey, .contentModificationDateKey]
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: keys,
                                                          options: [.skipsHiddenFiles]) else {
            throw FaceKitError.io("cannot list \(folder.path)")
        }
        let base = folder.path.hasSuffix("/") ? folder.path : folder.path + "/"
        var files: [DiskFile] = []
        for case let url as URL in walker {
            guard FolderIndex.imageExtensions.contains(url.pathExtension.lowercased()) else { continue }
            let values = try url.resourceValues(forKeys: Set(keys))
            guard values.isRegularFile == true else { continue }
            let full = url.standardizedFileURL.path
            guard full.hasPrefix(base) else { continue }
            files.append(DiskFile(path: String(full.dropFirst(base.count)), size: Int64(values.fileSize ?? 0),
                                  mtime: values.contentModificationDate?.timeIntervalSince1970 ?? 0))
        }
        return files.sorted { $0.path < $1.path }
    }

    func refresh(progress: (FolderIndex.Progress) -> Void) throws -> FolderIndex.Report {
        let start = Date()
        var report = FolderIndex.Report()
        let disk = try listImages()
        report.images = disk.count
        guard !disk.isEmpty else { throw FaceKitError.invalidInput("no images (.jpg, .jpeg, .png) in \(folder.path)") }

        var pending: [(file: DiskFile, sha256: String?)] = []
        if privacy {
            // No paths are kept, so files are known by content alone: every
            // file is hashed, new content is processed, and nothing is removed
            // (the store cannot tell which files a folder once held).
            let known = try store.ledger(signature: signature, under: "sha256:")
            var seen = Set<String>()
            for file in disk {
                let sha = try hash(file.path)
                guard seen.insert(sha).inserted else { report.unchanged += 1; continue }
                if known["sha256:" + sha] != nil { report.unchanged += 1 } else { report.added += 1; pending.append((file, sha)) }
            }
        } else {
            let known = try store.ledger(signature: signature, under: keyPrefix)
            var touched: [LedgerEntry] = []
            for file in disk {
                let key = keyPrefix + file.path
                guard let old = known[key] else {
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
                    touched.append(LedgerEntry(path: key, size: file.size, mtime: file.mtime, sha256: sha))
                } else {
                    report.changed += 1
                    pending.append((file, sha))
                }
            }
            let onDisk = Set(disk.map { keyPrefix + $0.path })
            let removed = known.keys.filter { !onDisk.contains($0) }.sorted()
            report.removed = removed.count
            try store.reconcile(removed: removed, touched: touched, signature: signature)
        }

        if !pending.isEmpty {
            // Missing models fail here, once, instead of marking every image bad.
            try engine.prepare(detector: detection.detector, models: [model.name])
            let batchSize = max(16, engine.workers * 8)
            var done = 0
            progress(FolderIndex.Progress(done: 0, total: pending.count, elapsed: Date().timeIntervalSince(start), failures: 0))
            try embedAndHash(pending, batchSize: batchSize) { batch, hashed, results in
                let (faces, failures) = try commit(batch, hashed: hashed, results: results)
                report.facesAdded += faces
                report.failures += failures
                done += batch.count
                report.processed = done
                progress(FolderIndex.Progress(done: done, total: pending.count, elapsed: Date().timeIntervalSince(start),
                                              failures: report.failures.count))
            }
        }
        report.faces = try store.count(signature: signature)
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    /// Commits one batch's results in one transaction.
    private func commit(_ batch: [(file: DiskFile, sha256: String?)], hashed: [Result<String, Error>],
                        results: [Result<ImageEmbeddings, FaceKitError>]) throws -> (faces: Int, failures: [FolderIndex.Failure]) {
        let hashes = try hashed.map { try $0.get() }
        var failures: [FolderIndex.Failure] = []
        var updates: [LedgerUpdate] = []
        var faces = 0
        for (i, entry) in batch.enumerated() {
            let file = entry.file
            let key = privacy ? "sha256:" + hashes[i] : keyPrefix + file.path
            let ledger = LedgerEntry(path: key, size: privacy ? 0 : file.size, mtime: privacy ? 0 : file.mtime, sha256: hashes[i])
            switch results[i] {
            case .success(let embedded):
                let records = embedded.faces.map { face in
                    FaceRecord(identity: identity(of: file.path), embedding: face.embeddings[model.name]!,
                               sourcePath: key, sourceSHA256: privacy ? nil : hashes[i], facialArea: face.facialArea,
                               faceConfidence: face.confidence)
                }
                faces += records.count
                updates.append(LedgerUpdate(entry: ledger, status: .ok, records: records))
            case .failure(let error):
                failures.append(FolderIndex.Failure(path: failurePath(file.path), message: error.description))
                // Only a verdict on the image itself is remembered; a failure
                // of the machinery is retried next run.
                guard error.category == .input else { continue }
                let status: LedgerUpdate.Status
                if case .noFaceDetected = error { status = .noFace } else { status = .unreadable }
                updates.append(LedgerUpdate(entry: ledger, status: status, message: error.description, records: []))
            }
        }
        try store.commit(updates, signature: signature)
        return (faces, failures)
    }

    /// Each lane hashes a file and embeds it (hashing every file first ran on
    /// one core while the other waited). The lanes run through every batch
    /// without stopping: the calling thread commits each batch, in order, as
    /// soon as its last file is done, while the lanes go on with the next
    /// (waiting at each batch's end for its last image cost ~30 ms over 64
    /// images). Within a batch files go largest first, so that a batch
    /// rarely waits on one large photo started last.
    private func embedAndHash(_ pending: [(file: DiskFile, sha256: String?)], batchSize: Int,
                              commit: ([(file: DiskFile, sha256: String?)], [Result<String, Error>],
                                       [Result<ImageEmbeddings, FaceKitError>]) throws -> Void) throws {
        let ranges = stride(from: 0, to: pending.count, by: batchSize).map { $0..<min($0 + batchSize, pending.count) }
        let order = ranges.flatMap { range in range.sorted { (pending[$0].file.size, $1) > (pending[$1].file.size, $0) } }
        typealias Slot = (hash: Result<String, Error>, embedded: Result<ImageEmbeddings, FaceKitError>)
        let slots = Locked([Slot?](repeating: nil, count: pending.count))
        let gate = BatchGate(sizes: ranges.map(\.count))
        let lanesDone = DispatchSemaphore(value: 0)
        let model = self.model, detection = self.detection, engine = self.engine
        DispatchQueue.global(qos: .userInitiated).async {
            runShared(order.count, lanes: engine.workers) { taken in
                let i = order[taken]
                if gate.cancelled { return }
                let file = pending[i].file
                let hash = Result<String, Error> { try pending[i].sha256 ?? self.hash(file.path) }
                let outcome: Result<ImageEmbeddings, FaceKitError>
                do {
                    outcome = .success(try engine.embed(.path(url(of: file.path).path), models: [model], options: detection))
                } catch let error as FaceKitError {
                    outcome = .failure(error)
                } catch {
                    outcome = .failure(.inferenceFailed(String(describing: error)))
                }
                slots.withLock { $0[i] = (hash, outcome) }
                gate.finished(batch: i / batchSize)
            }
            lanesDone.signal()
        }
        do {
            for (b, range) in ranges.enumerated() {
                gate.wait(batch: b)
                let done = slots.withLock { Array($0[range]) }.map { $0! }
                try commit(Array(pending[range]), done.map(\.hash), done.map(\.embedded))
            }
        } catch {
            gate.cancel()
            lanesDone.wait()
            throw error
        }
        lanesDone.wait()
    }
}

/// The files of each batch still being embedded; the committing thread
/// waits for a batch's count to reach zero.
private final class BatchGate: @unchecked Sendable {
    private let condition = NSCondition()
    private var remaining: [Int]
    private var stopped = false

    init(sizes: [Int]) { remaining = sizes }

    func finished(batch: Int) {
        condition.lock()
        remaining[batch] -= 1
        if remaining[batch] == 0 { condition.broadcast() }
        condition.unlock()
    }

    func wait(batch: Int) {
        condition.lock()
        while remaining[batch] > 0 { condition.wait() }
        condition.unlock()
    }

    /// Files not started yet are skipped (a commit failed).
    func cancel() {
        condition.lock()
        stopped = true
        condition.unlock()
    }

    var cancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }
}
