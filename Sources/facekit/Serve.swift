import ArgumentParser
import FaceKit
import FaceKitServer
import FaceKitStore
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve deepface's REST API (represent, verify, extract, find, register, search) over HTTP, with a web page at /.",
        discussion: """
        Binds to 127.0.0.1 by default. Any other address needs API keys (--api-keys-file, or \
        FACEKIT_API_KEYS=key1,key2); clients send X-API-Key: KEY or Authorization: Bearer KEY. \
        Images come as base64 or multipart uploads; paths only under --image-root (and /find's \
        db_path too); http(s) URLs only with --allow-urls, and then only to public addresses \
        unless --allow-private-urls. /register, /search and /identities use the face store (--store). \
        SIGTERM or SIGINT stops taking connections and finishes the requests in flight.
        """)

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 5005

    @Option(help: "File of API keys, one per line (# comments). Also FACEKIT_API_KEYS.")
    var apiKeysFile: String?

    @Option(help: "Folder that image paths in requests may name (off by default).")
    var imageRoot: String?

    @OptionGroup var storeFlags: StoreFlags

    @Flag(name: .customLong("allow-urls"), help: "Fetch http and https image URLs (public addresses only, unless --allow-private-urls).")
    var allowURLs = false

    @Flag(name: .customLong("allow-private-urls"), help: "With --allow-urls, also fetch from loopback, private, link-local and unique-local addresses.")
    var allowPrivateURLs = false

    @Option(help: "Largest image fetched from a URL, in bytes (default: the body limit).")
    var urlMaxBytes: Int?

    @Option(help: "Seconds a URL fetch may take in all (lookup, connection, redirects, body).")
    var urlTimeout = 10.0

    @Option(name: [.short, .long], help: "Model for requests that name none; loaded at start.")
    var model = "SFace"

    @Option(name: [.short, .long], help: "Detector for requests that name none; loaded at start.")
    var detector = "yunet"

    @Option(help: "Engine jobs at once (default: the number of cores).")
    var workers: Int?

    @Option(help: "Requests that may wait for a worker; beyond that the answer is 503 with Retry-After.")
    var queueDepth = 64

    @Option(help: "Largest request body in bytes (413 above it).")
    var maxBodyBytes = 16 << 20

    @Option(help: "Seconds a request may wait and run before 504.")
    var timeout = 30.0

    @Option(help: "Refuse images above this many pixels (default 100000000, or FACEKIT_MAX_PIXELS).")
    var maxPixels: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    func run() async throws {
        #if canImport(Glibc)
        // Each request decodes megabytes (the body, the image, the padded
        // copy detection works on). glibc raises its mmap threshold after the
        // first such buffer is freed, so later ones come from the heap
        // arenas, fragment them and never go back to the system: under load
        // RSS climbed to ~600 MB. A fixed 1 MB threshold keeps large buffers
        // in their own mappings, returned on free (~330 MB, same throughput).
        // mallopt is not in Swift's Glibc module; M_MMAP_THRESHOLD is -3 in <malloc.h>.
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") {
            typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
            _ = unsafeBitCast(symbol, to: Mallopt.self)(-3, 1 << 20)
        }
        #endif
        var config = ServerConfiguration()
        let service: FaceKitService
        var logger = Logger(label: "facekit.server")
        do {
            guard let level = Logger.Level(rawValue: logLevel) else {
                throw ServerConfigurationError("unknown log level '\(logLevel)'")
            }
            logger.logLevel = level
            config.host = host
            config.port = port
            var keys = APIKeys([])
            if let apiKeysFile { keys = keys + (try APIKeys.load(file: apiKeysFile)) }
            if let env = ProcessInfo.processInfo.environment["FACEKIT_API_KEYS"] { keys = keys + APIKeys.parse(environment: env) }
            config.apiKeys = keys
            if let imageRoot { config.images = try ImageInputPolicy(root: imageRoot) }
            if allowPrivateURLs && !allowURLs { throw ServerConfigurationError("--allow-private-urls needs --allow-urls") }
            config.urls.enabled = allowURLs
            config.urls.allowPrivate = allowPrivateURLs
            config.urls.maxBytes = urlMaxBytes
            config.urls.timeout = urlTimeout
            config.store = try storeFlags.open()
            config.defaultModel = try RecognitionModels.named(model).name
            config.defaultDetector = try DetectorBackend.named(detector)
            if let workers { config.workers = workers }
            config.queueDepth = queueDepth
            config.maxBodyBytes = maxBodyBytes
            config.requestTimeout = timeout
            config.maxPixels = maxPixels ?? ProcessInfo.processInfo.environment["FACEKIT_MAX_PIXELS"].flatMap(Int.init)
                ?? ImageLoader.defaultMaxPixels
            service = try FaceKitService(configuration: config, logger: logger)
            try service.prepare()
        } catch let error as ServerConfigurationError {
            Failure.printError(error.description)
            throw ExitCode(64)
        } catch let error as FaceKitError {
            Failure.printError(error.description)
            throw ExitCode(Failure.exitCode(for: error))
        }
        logger.info("serving", metadata: [
            "address": "\(host):\(port)", "model": "\(config.defaultModel)", "detector": "\(config.defaultDetector.rawValue)",
            "workers": "\(config.workers)", "queue": "\(config.queueDepth)", "api_keys": "\(config.apiKeys.count)",
            "image_root": "\(config.images.root ?? "off")",
            "urls": "\(allowURLs ? (allowPrivateURLs ? "on, private too" : "on, public only") : "off")",
            "store": "\(storeFlags.store ?? SQLiteVectorStore.defaultPath())",
        ])
        try await service.run()
    }
}
