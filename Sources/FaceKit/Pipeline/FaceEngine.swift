import CFaceKitNative
import Foundation

/// FaceKit's pipeline: image in, faces detected and aligned, embeddings out,
/// pairs compared. Models load once, on first use, and are shared by every
/// call; independent images run in parallel on all cores.
public final class FaceEngine: Sendable {
    public let store: ModelStore
    public let loader: ImageLoader
    /// How many images are processed at once: one per core by default. The
    /// networks run on oneDNN with one thread each, so a second image decodes
    /// (the largest single cost, ~20 ms for a 2.6 MP JPEG) while the first is
    /// detected and embedded: one base against 20 took 0.56 s instead of
    /// 0.86 s on 2 cores, for 15 MB more peak memory. A pair is verified on
    /// one lane (see `embedAll`).
    public let workers: Int
    /// Copies of each recognition network (FACEKIT_RECOGNIZER_COPIES when
    /// set). One by default: a few images at a time keep it busy, and
    /// memory stays at one network. Streaming a folder, one per lane: with
    /// one, a lane reaching the network while the other runs it waits, and
    /// the copies share their weights (a plan's mapping; SFace: a copy is
    /// its ~6 MB of activations). Indexing the 64 dataset images, with a
    /// YuNet copy per lane too: ~4% less time for ~15 MB more peak memory.
    let recognizerCopies: Int
    /// Copies of a detector the lanes share (FACEKIT_DETECTOR_COPIES, when
    /// set, for every detector). YuNet's oneDNN graph detects in ~5 ms, so
    /// outside folder streaming one copy is enough and a second only costs
    /// its activations (~20 MB); the other detectors (Haar, HOG, SSD, MTCNN)
    /// are slower than decoding and get one copy per lane.
    let detectorCopiesSetting = ProcessInfo.processInfo.environment["FACEKIT_DETECTOR_COPIES"].flatMap(Int.init)
    private let networksPerLane: Bool

    func detectorCopies(_ backend: DetectorBackend) -> Int {
        max(1, detectorCopiesSetting ?? (backend == .yunet && !networksPerLane ? 1 : workers))
    }
    /// FACEKIT_PROFILE=1 prints per-image stage timings to stderr.
    let profile = ProcessInfo.processInfo.environment["FACEKIT_PROFILE"] == "1"

    /// Where `embed` decodes an image it will pad (see DecodeCanvas): inside
    /// deepface's border from the start, so the padding copies nothing and
    /// no separate decoded copy is held (a cold pair: a few MB less at the
    /// peak).
    private let canvases: CanvasShelf
    private let detectors = Locked<[DetectorBackend: Pool<FaceDetector>]>([:])
    private let recognizers = Locked<[String: any FaceRecognizer]>([:])
    /// Weight files given by path for a model (`--weights`), used as they
    /// are: no digest check, format by extension.
    public let weights: [String: String]
    public let graphCache: GraphCache
    /// Networks saved ready to map (PlanCache).
    public let plans: PlanCache
    /// Run at the end of each `prepare`, once the networks are in and before
    /// images stream: where the program owning the process may switch its
    /// memory policy (the CLI's bulk commands: ProcessMemory.keepImageBuffers).
    let modelsLoaded: @Sendable () -> Void

    public init(store: ModelStore = ModelStore(), loader: ImageLoader = ImageLoader(),
                workers: Int = ProcessInfo.processInfo.environment["FACEKIT_WORKERS"].flatMap(Int.init)
                    ?? ProcessInfo.processInfo.activeProcessorCount,
                weights: [String: String] = [:], keepDecodeCanvases: Bool = false, networksPerLane: Bool = false,
                modelsLoaded: @escaping @Sendable () -> Void = {}) {
        self.modelsLoaded = modelsLoaded
        self.store = store
        self.loader = loader
        self.weights = weights
        self.graphCache = GraphCache(store: store)
        self.plans = PlanCache(store: store)
        self.workers = max(1, workers)
        self.networksPerLane = networksPerLane
        self.recognizerCopies = ProcessInfo.processInfo.environment["FACEKIT_RECOGNIZER_COPIES"].flatMap(Int.init)
            ?? (networksPerLane ? self.workers : 1)
        // Kept, one per lane, for streaming folders: the next image reuses the
        // pages instead of faulting in fresh ones. Not kept for a handful of
        // images, where a kept canvas grows to the union of every image's
        // pixels (one base image against 20: 217 MB instead of 200).
        self.canvases = CanvasShelf(capacity: keepDecodeCanvases ? self.workers : 0)
        // Parallelism comes from running images side by side; OpenCV's own
        // threads (image resizing, rotation, the OpenCV-run detectors) would
        // only fight over the same cores.
        fk_set_num_threads(self.workers > 1 ? 1 : -1)
    }

    // MARK: loading

    private func detectorPool(_ backend: DetectorBackend) throws -> Pool<FaceDetector> {
        try detectors.withLock { cache in
            if let pool = cache[backend] { return pool }
            let paths = try backend.files.map { try store.require($0, for: backend.rawValue) }
            // YuNet's translated graphs, one per canvas size, are saved as plans.
            var files = paths
            if backend == .yunet {
                var shapes: [[Int]] = []
                var width: Int32 = 0, height: Int32 = 0
                while fk_yunet_canvas(Int32(shapes.count), &width, &height) == 1 { shapes.append([1, 3, Int(height), Int(width)]) }
                files += plans.paths(source: paths[0], inputShapes: shapes) ?? []
            }
            let pool = Pool(capacity: detectorCopies(backend)) { try FaceDetector(backend: backend, paths: files) }
            try pool.warmUp()
            cache[backend] = pool
            return pool
        }
    }

    func recognizer(_ info: RecognitionModelInfo) throws -> any FaceRecognizer {
        try recognizers.withLock { cache in
            if let model = cache[info.name] { return model }
            let path = try weights[info.name] ?? defaultWeights(for: info)
            let model: any FaceRecognizer
            switch (info.runtime, ModelFile.Format(path: path)) {
            case (.sface, .onnx): model = try SFaceRecognizer(path: path, workers: recognizerCopies, plans: plans)
            case (.dlib, .dlibDat): model = try DlibRecognizer(path: path, workers: recognizerCopies)
            case (.deepfaceGraph, .onnx):
                model = try GraphRecognizer(info: info, onnx: path, cache: graphCache, workers: recognizerCopies, plans: plans)
            case (.deepfaceGraph, .kerasH5):
                model = try KerasRecognizer(info: info, h5: path, workers: recognizerCopies, plans: plans)
            case (_, let format):
                throw FaceKitError.invalidInput(
                    "\((path as NSString).lastPathComponent) is \(format.map { "a \($0.rawValue) file" } ?? "of an unknown format"); \(info.name) takes \(info.formats.map { ($0.fileName as NSString).pathExtension }.joined(separator: " or ")) weights")
            }
            cache[info.name] = model
            return model
        }
    }

    /// The first format of the model present in the store, or the error that
    /// names the default file and how to get it.
    private func defaultWeights(for info: RecognitionModelInfo) throws -> String {
        // deepface's order: ONNX (its default install) first, then Keras .h5.
        for format in [ModelFile.Format.onnx, .kerasH5] {
            for file in info.formats where file.format == format && store.isPresent(file) { return store.url(for: file).path }
        }
        if info.runtime != .deepfaceGraph { return try store.require(info.files[0], for: info.name) }
        let file = info.files[0]
        throw FaceKitError.modelFileMissing(
            model: info.name, file: store.url(for: file).path,
            fetchCommand: "facekit models import ~/.deepface/weights (deepface's download folder), or facekit models pull \(info.name) (from \(file.official?.url ?? "deepface's releases"))")
    }

    /// Loads a detector and models now, so that errors and load time come
    /// first. The networks load side by side on two threads: from saved
    /// plans each load is short and lean (a cold pair of images: ~20 ms less).
    public func prepare(detector: DetectorBackend, models: [String]) throws {
        let infos = try models.map { try RecognitionModels.named($0) }
        var work: [@Sendable () throws -> Void] = []
        if detector != .skip { work.append { _ = try self.detectorPool(detector) } }
        if !detector.givesEyes && detector != .skip { work.append { _ = try self.detectorPool(.opencv) } }
        for info in infos { work.append { _ = try self.recognizer(info) } }
        let loads = work
        let failure = Locked<Error?>(nil)
        runShared(loads.count, lanes: 2) { job in
            do { try loads[job]() } catch { failure.withLock { if $0 == nil { $0 = error } } }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        modelsLoaded()
    }

    // MARK: detection

    public func loadImage(_ source: ImageSource) throws -> Image {
        try loader.load(source)
    }

    /// deepface's extract_faces: each face cropped and aligned, with its
    /// facial area in the original image.
    public func extractFaces(_ source: ImageSource, options: DetectionOptions = .init()) throws -> [ExtractedFace] {
        try extractFaces(from: try loadImage(source), source: source.name, options: options)
    }

    public func extractFaces(from image: Image, source: String, options: DetectionOptions) throws -> [ExtractedFace] {
        try extractFaces(from: image, source: source, options: options, fits: nil)
    }

    func extractFaces(from image: Image, source: String, options: DetectionOptions, fits: [FitSize]?) throws -> [ExtractedFace] {
        let extraction = FaceExtraction(
            detector: options.detector == .skip ? nil : try detectorPool(options.detector),
            eyeFinder: { try self.detectorPool(.opencv) })
        return try extraction.extract(image, source: source, options: options, fits: fits)
    }

    // MARK: representation

    /// deepface's represent: one embedding per face.
    public func represent(_ source: ImageSource, model: String, options: DetectionOptions = .init()) throws -> [Representation] {
        let info = try RecognitionModels.named(model)
        // deepface's represent with detector "skip" fits the decoded bytes;
        // its verify and find, even with "skip", fit [0, 1] floats.
        let result = try embed(source, models: [info], options: options, fitFromBytes: options.detector == .skip)
        return result.faces.map {
            Representation(embedding: $0.embeddings[info.name]!, facialArea: $0.facialArea, faceConfidence: $0.confidence)
        }
    }

    /// Detects the faces of one image once and embeds each with every model given.
    public func embed(_ source: ImageSource, models: [RecognitionModelInfo], options: DetectionOptions,
                      fitFromBytes: Bool = false) throws -> ImageEmbeddings {
        // Detection with alignment pads the image first (deepface's border):
        // decoded into a canvas, it already sits inside that border.
        guard options.detector != .skip && options.align else {
            return try embed(source, loaded: loadImage, models: models, options: options, fitFromBytes: fitFromBytes)
        }
        // The canvas stays checked out until the image is done with: handed
        // back right after decoding, another lane took it while the image
        // still lived in it, and the native side had to map fresh memory
        // (36 new 64 MB mappings, faulted in and zeroed by the kernel, for
        // the 64 dataset images on two lanes).
        return try canvases.with { canvas in
            try embed(source, loaded: { try loader.load($0, into: canvas) }, models: models, options: options,
                      fitFromBytes: fitFromBytes)
        }
    }

    private func embed(_ source: ImageSource, loaded load: (ImageSource) throws -> Image,
                       models: [RecognitionModelInfo], options: DetectionOptions, fitFromBytes: Bool) throws -> ImageEmbeddings {
        let clock = StageClock(enabled: profile)
        let image = try load(source)
        clock.lap("decode")
        // The crops go nowhere but into the models' inputs (fitted from
        // [0, 1] floats), so each is computed only where those fits read.
        let fits: [FitSize]? = fitFromBytes ? nil : models.map { ($0.inputWidth, $0.inputHeight) }
        let faces = try extractFaces(from: image, source: source.name, options: options, fits: fits)
        clock.lap("detect+align")
        defer { clock.lap("embed"); clock.report(source.name) }
        var perModel: [String: [[Float]]] = [:]
        for info in models {
            let inputs = try faces.map { face -> [Float] in
                if options.alignment == .landmarks, let points = face.fivePoints {
                    return try image.landmarkCrop(points: points, size: info.inputWidth)
                        .fitted(width: info.inputWidth, height: info.inputHeight)
                }
                return try face.face.fitted(width: info.inputWidth, height: info.inputHeight, fromBytes: fitFromBytes)
            }.map { face in
                var face = face
                options.normalization.apply(&face)
                return face
            }
            perModel[info.name] = try recognizer(info).embed(inputs)
        }
        return ImageEmbeddings(source: source.name, faces: faces.enumerated().map { i, face in
            .init(facialArea: face.facialArea, confidence: face.confidence,
                  embeddings: perModel.mapValues { $0[i] })
        })
    }

    /// Embeds many images in parallel, each once for all models; a failure
    /// of one image (no face, unreadable) is its own result, not the batch's.
    public func embedAll(_ sources: [ImageSource], models: [RecognitionModelInfo], options: DetectionOptions)
        -> [Result<ImageEmbeddings, FaceKitError>]
    {
        let results = Locked([Result<ImageEmbeddings, FaceKitError>?](repeating: nil, count: sources.count))
        // A pair runs on one lane: the second lane would save ~30 ms of a
        // cold verify but hold a second decoded image and its buffers at
        // once (+15 MB peak, measured 157 -> 172 MB).
        let lanes = sources.count <= 2 ? 1 : min(workers, sources.count)
        runShared(sources.count, lanes: lanes) { index in
            let outcome: Result<ImageEmbeddings, FaceKitError>
            do {
                outcome = .success(try embed(sources[index], models: models, options: options))
            } catch let error as FaceKitError {
                outcome = .failure(error)
            } catch {
                outcome = .failure(.inferenceFailed(String(describing: error)))
            }
            results.withLock { $0[index] = outcome }
        }
        return results.withLock { $0.map { $0! } }
    }

    /// Times the recognition step alone: the image's faces are found and
    /// fitted once (as represent fits them), then embedded `runs` times. For benchmarks; returns the
    /// first face's embedding and the seconds of each run.
    public func timeEmbedding(_ source: ImageSource, model: String, options: DetectionOptions, runs: Int) throws
        -> (embedding: [Float], seconds: [Double])
    {
        let info = try RecognitionModels.named(model)
        let recognizer = try recognizer(info)
        let image = try loadImage(source)
        guard let face = try extractFaces(from: image, source: source.name, options: options).first else {
            throw FaceKitError.noFaceDetected(source: source.name)
        }
        var input = try face.face.fitted(width: info.inputWidth, height: info.inputHeight,
                                         fromBytes: options.detector == .skip)
        options.normalization.apply(&input)
        var embedding: [Float] = []
        var seconds: [Double] = []
        for _ in 0..<max(1, runs) {
            let start = DispatchTime.now().uptimeNanoseconds
            embedding = try recognizer.embed([input])[0]
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return (embedding, seconds)
    }

    // MARK: verification

    public struct VerifyOptions: Sendable {
        public var metric: DistanceMetric
        /// nil: deepface's threshold for the model and metric.
        public var threshold: Double?
        public var detection: DetectionOptions

        public init(metric: DistanceMetric = .cosine, threshold: Double? = nil, detection: DetectionOptions = .init()) {
            self.metric = metric
            self.threshold = threshold
            self.detection = detection
        }
    }

    /// deepface's verify for two images.
    public func verify(_ first: ImageSource, _ second: ImageSource, model: String, options: VerifyOptions = .init()) throws -> VerificationResult {
        let results = try verify(base: first, against: [second], models: [model], options: options)
        switch results[0][0] {
        case .success(let r): return r
        case .failure(let e): throw e
        }
    }

    /// One base image against many, under one or more models. The base is
    /// processed once; every other image once, in parallel. Result [i][m] is
    /// image i under model m. A bad base image fails the whole call.
    public func verify(base: ImageSource, against others: [ImageSource], models: [String], options: VerifyOptions = .init())
        throws -> [[Result<VerificationResult, FaceKitError>]]
    {
        let infos = try models.map { try RecognitionModels.named($0) }
        let thresholds = try infos.map { try options.threshold ?? Thresholds.threshold(model: $0.name, metric: options.metric) }
        let sources = [base] + others
        try prepare(detector: options.detection.detector, models: infos.map(\.name))
        let start = Date()
        let all = embedAll(sources, models: infos, options: options.detection)
        let baseFaces: ImageEmbeddings
        switch all[0] {
        case .success(let e): baseFaces = e
        case .failure(let e): throw e
        }
        let elapsed = Date().timeIntervalSince(start)
        // deepface's time covers the pair; here the batch is shared, so each
        // pair reports its share of it.
        let perPair = (elapsed / Double(max(1, others.count)) * 100).rounded() / 100
        return all.dropFirst().map { outcome in
            infos.enumerated().map { m, info in
                outcome.flatMap { other in
                    Result {
                        try Self.compare(baseFaces, other, model: info.name, metric: options.metric,
                                         threshold: thresholds[m], detector: options.detection.detector, time: perPair)
                    }.mapError { $0 as? FaceKitError ?? .inferenceFailed("\($0)") }
                }
            }
        }
    }

    /// The closest pair of faces across two images decides, as in deepface.
    static func compare(_ a: ImageEmbeddings, _ b: ImageEmbeddings, model: String, metric: DistanceMetric,
                        threshold: Double, detector: DetectorBackend, time: Double) throws -> VerificationResult {
        var best: (distance: Double, i: Int, j: Int)?
        for (i, fa) in a.faces.enumerated() {
            for (j, fb) in b.faces.enumerated() {
                guard let ea = fa.embeddings[model], let eb = fb.embeddings[model] else { continue }
                let d = try metric.distance(ea, eb)
                if best == nil || d < best!.distance { best = (d, i, j) }
            }
        }
        guard let best else { throw FaceKitError.noFaceDetected(source: a.faces.isEmpty ? a.source : b.source) }
        let verified = best.distance <= threshold
        return VerificationResult(
            verified: verified, distance: best.distance, threshold: threshold,
            confidence: ConfidenceCalibration.confidence(distance: best.distance, model: model, metric: metric, verified: verified),
            model: model, detectorBackend: detector.rawValue, similarityMetric: metric.rawValue,
            facialAreas: .init(img1: a.faces[best.i].facialArea, img2: b.faces[best.j].facialArea),
            time: time, similarity: metric.similarity(distance: best.distance))
    }
}
