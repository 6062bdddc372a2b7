import FaceKit
import FaceKitStore
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// FaceKit over HTTP with deepface's API: one shared FaceEngine (models load
/// once), its blocking calls on a bounded WorkQueue, and thin routes that
/// read deepface's fields, call the library and write deepface's shapes.
///
/// A route for a new library feature (analyze, find, register, search) is a
/// parse of its fields, one `work { engine... }` call and an encode; limits,
/// authentication, errors and metrics come from here.
public final class FaceKitService: Sendable {
    public let configuration: ServerConfiguration
    public let engine: FaceEngine
    /// Attribute models (age, gender, race, emotion), loaded on first use and shared.
    public let analyzer: FaceAnalyzer
    public let queue: WorkQueue
    public let metrics: ServerMetrics
    let logger: Logger
    let fetcher: ImageFetcher
    /// Library objects per pipeline (and folder), built on first use.
    let databases = BoundedCache<FaceDatabase>(limit: 16)
    let indexes = BoundedCache<FolderIndex>(limit: 32)

    /// The routes, for the router and for the tests that hold the OpenAPI
    /// spec to them.
    public static let routes: [(method: HTTPRequest.Method, path: String)] = [
        (.get, "/"), (.get, "/health"), (.get, "/models"), (.get, "/metrics"), (.get, "/openapi.json"),
        (.post, "/represent"), (.post, "/verify"), (.post, "/extract"), (.post, "/analyze"),
        (.post, "/find"), (.post, "/register"), (.post, "/search"), (.get, "/identities"), (.delete, "/identities/{name}"),
    ]

    /// Paths served without an API key: the page (which asks for the key),
    /// the liveness probe and the API description.
    static let openPaths: Set<String> = ["/", "/health", "/openapi.json"]

    public init(configuration: ServerConfiguration, engine: FaceEngine? = nil,
                logger: Logger = Logger(label: "facekit.server")) throws {
        try configuration.validate()
        self.configuration = configuration
        self.engine = engine ?? FaceEngine(loader: ImageLoader(maxPixels: configuration.maxPixels,
                                                              maxBytes: configuration.maxBodyBytes))
        self.analyzer = FaceAnalyzer(engine: self.engine)
        let metrics = ServerMetrics()
        self.metrics = metrics
        self.queue = WorkQueue(workers: configuration.workers, depth: configuration.queueDepth) { metrics.engine($0) }
        self.logger = logger
        self.fetcher = ImageFetcher(policy: configuration.urls, maxBytes: configuration.maxBodyBytes)
    }

    /// Loads the default detector and model now, so that a missing model
    /// stops the start with its fix, and the first request is not slow.
    public func prepare() throws {
        try engine.prepare(detector: configuration.defaultDetector, models: [configuration.defaultModel])
    }

    /// Stops the engine threads once the server has drained.
    public func shutdown() {
        queue.shutdown()
    }

    // MARK: application

    public func buildRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: AccessMiddleware(metrics: metrics, logger: logger))
        router.add(middleware: APIKeyMiddleware(keys: configuration.apiKeys, openPaths: Self.openPaths))
        router.get("/") { _, _ in Self.text(WebPage.html, type: "text/html; charset=utf-8") }
        router.get("/health") { _, _ in try self.health() }
        router.get("/models") { _, _ in try self.models() }
        router.get("/metrics") { _, _ in Self.text(self.metrics.exposition(), type: "text/plain; version=0.0.4; charset=utf-8") }
        router.get("/openapi.json") { _, _ in Self.text(OpenAPISpec.json, type: "application/json; charset=utf-8") }
        router.post("/represent") { request, _ in try await self.represent(request) }
        router.post("/verify") { request, _ in try await self.verify(request) }
        router.post("/extract") { request, _ in try await self.extract(request) }
        router.post("/analyze") { request, _ in try await self.analyze(request) }
        router.post("/find") { request, _ in try await self.find(request) }
        router.post("/register") { request, _ in try await self.register(request) }
        router.post("/search") { request, _ in try await self.search(request) }
        router.get("/identities") { _, _ in try await self.identities() }
        router.delete("/identities/{name}") { _, context in
            try await self.deleteIdentity(try context.parameters.require("name"))
        }
        return router
    }

    public func makeApplication() -> some ApplicationProtocol {
        Application(
            router: buildRouter(),
            // An idle timeout closes connections that open and then send
            // nothing, which would otherwise hold a socket each for ever.
            server: .http1(configuration: .init(idleTimeout: .seconds(75))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "FaceKit"),
            logger: logger)
    }

    /// Serves until SIGTERM or SIGINT, then finishes the requests in flight
    /// (Hummingbird's graceful shutdown) and stops the engine threads.
    public func run() async throws {
        defer { shutdown() }
        try await makeApplication().runService()
    }

    // MARK: routes

    func represent(_ request: Request) async throws -> Response {
        let fields = try await body(of: request)
        let image = try await imageField(fields, ["img", "img_path"])
        let model = try modelName(fields)
        let detection = try detectionOptions(fields)
        let engine = self.engine
        let faces = try await work { try engine.represent(image, model: model, options: detection) }
        return try Self.json(RepresentResponse(results: faces))
    }

    func verify(_ request: Request) async throws -> Response {
        let fields = try await body(of: request)
        let first = try await imageField(fields, ["img1", "img1_path"])
        let second = try await imageField(fields, ["img2", "img2_path"])
        let model = try modelName(fields)
        let metric = try DistanceMetric.named(try fields.string("distance_metric") ?? "cosine")
        let threshold = try fields.double("threshold")
        let options = FaceEngine.VerifyOptions(metric: metric, threshold: threshold, detection: try detectionOptions(fields))
        let engine = self.engine
        let result = try await work { try engine.verify(first, second, model: model, options: options) }
        return try Self.json(result)
    }

    func extract(_ request: Request) async throws -> Response {
        let fields = try await body(of: request)
        let image = try await imageField(fields, ["img", "img_path"])
        let detection = try detectionOptions(fields)
        let engine = self.engine
        let faces = try await work {
            try engine.extractFaces(image, options: detection).map { ExtractResponse.Face(facialArea: $0.facialArea, confidence: $0.confidence) }
        }
        return try Self.json(ExtractResponse(results: faces))
    }

    /// deepface's analyze, plus FaceKit's choice of model per action
    /// (age_model, gender_model, race_model, emotion_model).
    func analyze(_ request: Request) async throws -> Response {
        let fields = try await body(of: request)
        let image = try await imageField(fields, ["img", "img_path"])
        var actions = AttributeAction.deepfaceDefault
        if let names = try fields.list("actions") {
            var seen = Set<AttributeAction>()
            actions = try names.map { try AttributeAction.named($0) }.filter { seen.insert($0).inserted }
            guard !actions.isEmpty else { throw APIError.badRequest("'actions' is empty; give some of age, gender, race, emotion") }
        }
        var models: [AttributeAction: String] = [:]
        for action in AttributeAction.allCases {
            if let name = try fields.string("\(action.rawValue)_model") { models[action] = name }
        }
        let options = AnalysisOptions(actions: actions, detection: try detectionOptions(fields), models: models)
        let analyzer = self.analyzer
        let faces = try await work {
            let plan = try analyzer.prepare(options)
            return try analyzer.analyze(image: try analyzer.engine.loadImage(image), source: image.name, options: options, plan: plan).faces
        }
        return try Self.json(AnalyzeResponse(results: faces))
    }

    func health() throws -> Response {
        let s = queue.snapshot
        return try Self.json(HealthResponse(
            status: "ok", version: FaceKitVersion.string,
            engine: .init(workers: queue.workers, running: s.running, queued: s.queued, queueDepth: queue.depth)))
    }

    func models() throws -> Response {
        let store = engine.store
        let files = { (list: [ModelFile]) in list.map { ModelsResponse.File(name: $0.fileName, present: store.isPresent($0)) } }
        return try Self.json(ModelsResponse(
            defaultModel: configuration.defaultModel,
            defaultDetector: configuration.defaultDetector.rawValue,
            models: RecognitionModels.all.map { info in
                .init(name: info.name, dimensions: info.dimensions, inputSize: [info.inputWidth, info.inputHeight],
                      thresholds: Dictionary(uniqueKeysWithValues: DistanceMetric.allCases.compactMap { metric in
                          (try? Thresholds.threshold(model: info.name, metric: metric)).map { (metric.rawValue, $0) }
                      }),
                      files: files(info.files))
            },
            detectors: DetectorBackend.allCases.map { .init(name: $0.rawValue, fiveLandmarks: $0.givesFiveLandmarks, files: files($0.files)) },
            distanceMetrics: DistanceMetric.allCases.map(\.rawValue),
            alignments: AlignmentMode.allCases.map(\.rawValue)))
    }

    // MARK: request reading

    /// The body within the size limit, refused by its Content-Length before
    /// a byte is read when it says it is too large.
    func body(of request: Request) async throws -> RequestFields {
        let limit = configuration.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError(.contentTooLarge, "the request body is \(length) bytes, above the limit of \(limit) bytes")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw APIError(.contentTooLarge, "the request body is above the limit of \(limit) bytes")
        }
        return try RequestFields.parse(contentType: request.headers[.contentType], body: buffer)
    }

    func imageField(_ fields: RequestFields, _ names: [String]) async throws -> ImageSource {
        try await imageFieldWithSpelling(fields, names).source
    }

    /// The image of the first field present, and the text the client wrote
    /// when it was a string (a path or a URL). An http(s) URL is fetched here,
    /// on the event loop, before the request takes a worker.
    func imageFieldWithSpelling(_ fields: RequestFields, _ names: [String]) async throws -> (source: ImageSource, spelled: String?) {
        guard let (name, value) = fields.first(names) else {
            throw APIError.badRequest("'\(names[0])' is missing: give an image as base64, a data: URI or a multipart file")
        }
        guard case .string(let text) = value else { return (try configuration.images.source(value, field: name), nil) }
        // A base64 image is megabytes: its scheme, if any, is in its first
        // characters, and only a short text is worth keeping as written.
        let head = String(text.prefix(64)).trimmingCharacters(in: .whitespacesAndNewlines)
        if configuration.urls.enabled, let scheme = ImageInputPolicy.urlScheme(head), scheme == "http" || scheme == "https" {
            let url = text.trimmingCharacters(in: .whitespacesAndNewlines)
            return (try await fetcher.fetch(url, field: name), url)
        }
        let spelled = text.utf8.count <= 4096 ? text.trimmingCharacters(in: .whitespacesAndNewlines) : nil
        return (try configuration.images.source(value, field: name), spelled)
    }

    func modelName(_ fields: RequestFields) throws -> String {
        let name = try fields.string("model_name") ?? configuration.defaultModel
        // Checked here so an unknown model is a 400 at once, not a queued job.
        return try RecognitionModels.named(name).name
    }

    /// deepface's detection fields, plus FaceKit's `alignment`.
    func detectionOptions(_ fields: RequestFields) throws -> DetectionOptions {
        if try fields.bool("anti_spoofing", default: false) {
            throw APIError.badRequest("anti_spoofing is not supported by FaceKit yet; send it as false or leave it out")
        }
        if let normalization = try fields.string("normalization"), normalization.lowercased() != "base" {
            throw APIError.badRequest("normalization '\(normalization)' is not supported; FaceKit uses each model's own ('base')")
        }
        let expand = try fields.int("expand_percentage") ?? 0
        guard (0...1000).contains(expand) else { throw APIError.badRequest("'expand_percentage' must be between 0 and 1000") }
        let maxFaces = try fields.int("max_faces")
        if let maxFaces, maxFaces < 1 { throw APIError.badRequest("'max_faces' must be at least 1") }
        return DetectionOptions(
            detector: try DetectorBackend.named(try fields.string("detector_backend") ?? configuration.defaultDetector.rawValue),
            align: try fields.bool("align", default: true),
            expandPercentage: expand,
            enforceDetection: try fields.bool("enforce_detection", default: true),
            alignment: try AlignmentMode.named(try fields.string("alignment") ?? AlignmentMode.deepface.rawValue),
            maxFaces: maxFaces)
    }

    /// Runs engine work on the queue; a refusal becomes 503 or 504.
    func work<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await queue.run(timeout: configuration.requestTimeout, body)
        } catch let refusal as WorkQueue.Refusal {
            switch refusal {
            case .full: metrics.refused(reason: "queue_full")
            case .timedOut: metrics.refused(reason: "timeout")
            case .stopped: metrics.refused(reason: "stopped")
            }
            throw APIError(refusal)
        }
    }

    // MARK: responses

    static func json(_ value: some Encodable) throws -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder.api.encode(value))))
    }

    static func text(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

// MARK: response bodies (deepface's keys)

struct RepresentResponse: Encodable {
    let results: [Representation]
}

struct AnalyzeResponse: Encodable {
    let results: [FaceAnalysis]
}

struct ExtractResponse: Encodable {
    let results: [Face]

    struct Face: Encodable, Sendable {
        let facialArea: FacialArea
        let confidence: Double

        enum CodingKeys: String, CodingKey {
            case facialArea = "facial_area"
            case confidence
        }
    }
}

struct HealthResponse: Encodable {
    let status: String
    let version: String
    let engine: Engine

    struct Engine: Encodable {
        let workers: Int
        let running: Int
        let queued: Int
        let queueDepth: Int

        enum CodingKeys: String, CodingKey {
            case workers, running, queued
            case queueDepth = "queue_depth"
        }
    }
}

struct ModelsResponse: Encodable {
    let defaultModel: String
    let defaultDetector: String
    let models: [Model]
    let detectors: [Detector]
    let distanceMetrics: [String]
    let alignments: [String]

    struct File: Encodable {
        let name: String
        let present: Bool
    }

    struct Model: Encodable {
        let name: String
        let dimensions: Int
        let inputSize: [Int]
        let thresholds: [String: Double]
        let files: [File]

        enum CodingKeys: String, CodingKey {
            case name, dimensions, thresholds, files
            case inputSize = "input_size"
        }
    }

    struct Detector: Encodable {
        let name: String
        let fiveLandmarks: Bool
        let files: [File]

        enum CodingKeys: String, CodingKey {
            case name, files
            case fiveLandmarks = "five_landmarks"
        }
    }

    enum CodingKeys: String, CodingKey {
        case models, detectors, alignments
        case defaultModel = "default_model"
        case defaultDetector = "default_detector"
        case distanceMetrics = "distance_metrics"
    }
}
