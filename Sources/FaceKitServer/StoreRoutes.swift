import FaceKit
import FaceKitStore
import Foundation
import Hummingbird

/// deepface's database routes over FaceKitStore: /find over a folder under
/// the image root (the folder keeps its own index, as deepface's find keeps
/// its pickle), and /register, /search and DELETE /identities/{name} over
/// the configured face store. Each route parses deepface's fields, makes one
/// library call on the work queue and encodes deepface's shape.
extension FaceKitService {
    func find(_ request: Request) async throws -> Response {
        let fields = try await body(of: request)
        let image = try await imageField(fields, ["img", "img_path"])
        guard let spelled = try fields.string("db_path") else {
            throw APIError.badRequest("'db_path' is missing: name a folder of images under the image root")
        }
        let folder = try configuration.images.folder(spelled, field: "db_path")
        let model = try modelName(fields)
        let detection = try detectionOptions(fields)
        let metric = try DistanceMetric.named(try fields.string("distance_metric") ?? "cosine")
        let threshold = try fields.double("threshold")
        let k = try positive(fields, "k")
        let similaritySearch = try fields.bool("similarity_search", default: false)
        let refresh = try fields.bool("refresh_database", default: true)
        let indexes = self.indexes
        let engine = self.engine
        let matches = try await work {
            let index = try indexes.value(for: PipelineKey(model: model, detection: detection, folder: folder, name: spelled)) {
                try FolderIndex(folder: folder, named: spelled.trimmingCharacters(in: .whitespacesAndNewlines),
                                engine: engine, model: model, detection: detection)
            }
            if refresh { _ = try index.refresh() }
            return try index.find(image, metric: metric, threshold: threshold, top: k, similaritySearch: similaritySearch)
        }
        return try Self.json(FindResponse(results: matches))
    }

    func register(_ request: Request) async throws -> Response {
        let fields = try await body(of: request)
        let database = try faceDatabase(fields)
        let (image, spelled) = try await imageFieldWithSpelling(fields, ["img", "img_path"])
        // deepface's name for the faces: img_name, else the path when it names
        // an image file, else a fresh UUID.
        let name: String
        if let given = try fields.string("img_name"), !given.trimmingCharacters(in: .whitespaces).isEmpty {
            name = given
        } else if case .path = image, let spelled, [".jpg", ".jpeg", ".png"].contains(where: { spelled.hasSuffix($0) }) {
            name = spelled
        } else {
            name = UUID().uuidString.lowercased()
        }
        let selectionName = try fields.string("faces") ?? FaceDatabase.FaceSelection.all.rawValue
        guard let selection = FaceDatabase.FaceSelection(rawValue: selectionName.lowercased()) else {
            throw APIError.badRequest("'faces' must be 'all' (deepface's register) or 'largest', not '\(selectionName)'")
        }
        let registration = try await work { try database.register([image], identity: name, faces: selection) }
        return try Self.json(RegisterResponse(
            inserted: registration.registered.count, imgName: name,
            ids: registration.registered.map(\.id), facialAreas: registration.registered.map(\.facialArea)))
    }

    func search(_ request: Request) async throws -> Response {
        let fields = try await body(of: request)
        let database = try faceDatabase(fields)
        let image = try await imageField(fields, ["img", "img_path"])
        let method = try fields.string("search_method") ?? "exact"
        guard let mode = SearchMode(rawValue: method) else {
            throw APIError.badRequest("search_method must be 'exact' or 'ann', not '\(method)'")
        }
        let metric = try DistanceMetric.named(try fields.string("distance_metric") ?? "cosine")
        let threshold = try fields.double("threshold")
        let k = try positive(fields, "k")
        let similaritySearch = try fields.bool("similarity_search", default: false)
        let results = try await work {
            try database.search(image, k: k, similaritySearch: similaritySearch, metric: metric, threshold: threshold, mode: mode)
        }
        let detection = database.detection
        return try Self.json(SearchResponse(results: results.map { face in
            face.matches.map { m in
                SearchResponse.Match(
                    id: m.id, imgName: m.identity, modelName: database.model.name, detectorBackend: detection.detector.rawValue,
                    aligned: detection.align, l2Normalized: false, searchMethod: method,
                    targetX: face.facialArea.x, targetY: face.facialArea.y, targetW: face.facialArea.w, targetH: face.facialArea.h,
                    threshold: m.threshold, distanceMetric: metric.rawValue, distance: m.distance, confidence: m.confidence)
            }
        }))
    }

    func deleteIdentity(_ name: String) async throws -> Response {
        let store = try faceStore()
        let removed = try await work { try store.delete(identity: name) }
        guard removed > 0 else { throw APIError(.notFound, "no identity '\(name)' in the face store") }
        return try Self.json(DeleteResponse(identity: name, deleted: removed))
    }

    func identities() async throws -> Response {
        let store = try faceStore()
        let all = try await work { try store.identities(signature: nil) }
        return try Self.json(IdentitiesResponse(identities: all.map { .init(identity: $0.identity, faces: $0.faces, models: $0.models) }))
    }

    // MARK: helpers

    func faceStore() throws -> any VectorStore {
        guard let store = configuration.store else {
            throw APIError(.notImplemented, "this server has no face store; start it with --store PATH")
        }
        return store
    }

    /// The database for the request's model and detection fields, built once
    /// per pipeline: building one hashes the model's weights.
    func faceDatabase(_ fields: RequestFields) throws -> FaceDatabase {
        let store = try faceStore()
        if try fields.bool("l2_normalize", default: false) {
            throw APIError.badRequest("l2_normalize is not supported: FaceKit stores each model's own vectors; send false or leave it out")
        }
        let model = try modelName(fields)
        let detection = try detectionOptions(fields)
        let engine = self.engine
        return try databases.value(for: PipelineKey(model: model, detection: detection)) {
            try FaceDatabase(store: store, engine: engine, model: model, detection: detection)
        }
    }

    /// deepface's optional counts (k): absent, or at least 1.
    func positive(_ fields: RequestFields, _ name: String) throws -> Int? {
        let value = try fields.int(name)
        if let value, value < 1 { throw APIError.badRequest("'\(name)' must be at least 1") }
        return value
    }
}

/// What a pipeline object is built from; equal keys share one object.
struct PipelineKey: Hashable, Sendable {
    let model: String
    let detector: String
    let align: Bool
    let expand: Int
    let enforce: Bool
    let alignment: String
    let maxFaces: Int?
    let folder: String?
    let name: String?

    init(model: String, detection: DetectionOptions, folder: String? = nil, name: String? = nil) {
        self.model = model
        detector = detection.detector.rawValue
        align = detection.align
        expand = detection.expandPercentage
        enforce = detection.enforceDetection
        alignment = detection.alignment.rawValue
        maxFaces = detection.maxFaces
        self.folder = folder
        self.name = name
    }
}

/// A few library objects kept by key. Bounded, since clients choose the
/// keys: past the limit the oldest goes (it is rebuilt if asked for again).
final class BoundedCache<Value: Sendable>: Sendable {
    private let entries = Locked<(values: [PipelineKey: Value], order: [PipelineKey])>(([:], []))
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func value(for key: PipelineKey, make: () throws -> Value) throws -> Value {
        if let hit = entries.withLock({ $0.values[key] }) { return hit }
        // Built outside the lock: building hashes weights and opens files.
        let made = try make()
        return entries.withLock { state in
            if let raced = state.values[key] { return raced }
            if state.order.count >= limit { state.values[state.order.removeFirst()] = nil }
            state.values[key] = made
            state.order.append(key)
            return made
        }
    }
}

// MARK: response bodies (deepface's keys, and FaceKit's extras after them)

struct FindResponse: Encodable {
    let results: [[FolderIndex.Match]]
}

struct RegisterResponse: Encodable {
    let inserted: Int
    let imgName: String
    let ids: [Int64]
    let facialAreas: [FacialArea]

    enum CodingKeys: String, CodingKey {
        case inserted, ids
        case imgName = "img_name"
        case facialAreas = "facial_areas"
    }
}

struct SearchResponse: Encodable {
    let results: [[Match]]

    struct Match: Encodable {
        let id: Int64
        let imgName: String
        let modelName: String
        let detectorBackend: String
        let aligned: Bool
        let l2Normalized: Bool
        let searchMethod: String
        let targetX: Int, targetY: Int, targetW: Int, targetH: Int
        let threshold: Double
        let distanceMetric: String
        let distance: Double
        let confidence: Double

        enum CodingKeys: String, CodingKey {
            case id, aligned, threshold, distance, confidence
            case imgName = "img_name"
            case modelName = "model_name"
            case detectorBackend = "detector_backend"
            case l2Normalized = "l2_normalized"
            case searchMethod = "search_method"
            case targetX = "target_x", targetY = "target_y", targetW = "target_w", targetH = "target_h"
            case distanceMetric = "distance_metric"
        }
    }
}

struct DeleteResponse: Encodable {
    let identity: String
    let deleted: Int
}

struct IdentitiesResponse: Encodable {
    let identities: [Identity]

    struct Identity: Encodable {
        let identity: String
        let faces: Int
        let models: [String]
    }
}
