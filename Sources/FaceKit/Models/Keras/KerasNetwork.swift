import CFaceKitNative
import Foundation

/// An architecture described once, in Swift, as Keras layers. `build`
/// receives the input tensor and returns the model's outputs.
public struct KerasArchitecture: Sendable {
    public let name: String
    /// Input shape without the batch axis: height, width, channels.
    public let inputShape: [Int]
    public let matching: KerasWeightMatching
    let build: @Sendable (KerasGraphBuilder, KerasTensor) throws -> [KerasTensor]

    public init(name: String, inputShape: [Int], matching: KerasWeightMatching,
                build: @escaping @Sendable (KerasGraphBuilder, KerasTensor) throws -> [KerasTensor]) {
        self.name = name
        self.inputShape = inputShape
        self.matching = matching
        self.build = build
    }
}

/// A Keras model read from its weight file and checked against its
/// architecture: OpenCV layers with converted weights, ready to instantiate.
/// Immutable and shareable, so every worker's network is built from memory
/// without reading the file again.
public struct KerasModel: Sendable {
    public let architecture: String
    public let file: String
    public let inputShape: [Int]
    /// Keras shapes (without batch) of the outputs, in order.
    public let outputShapes: [[Int]]
    let layers: [PreparedLayer]
    let outputs: [Int32]

    public static func load(_ architecture: KerasArchitecture, file path: String) throws -> KerasModel {
        let file = try KerasWeightFile(path: path)
        let builder = KerasGraphBuilder(architecture: architecture.name, file: file, matching: architecture.matching,
                                        inputShape: architecture.inputShape)
        let outputs = try architecture.build(builder, builder.input)
        try builder.bind(outputs: outputs)
        let graph = builder.pruned(outputs: outputs)
        return KerasModel(architecture: architecture.name, file: path, inputShape: architecture.inputShape,
                          outputShapes: outputs.map(\.shape), layers: graph.layers, outputs: graph.outputs)
    }

    public var floatsPerSample: Int { outputShapes.reduce(0) { $0 + $1.reduce(1, *) } }

    /// The same model's description and shapes, without its weights.
    var withoutWeights: KerasModel {
        KerasModel(architecture: architecture, file: file, inputShape: inputShape, outputShapes: outputShapes, layers: [],
                   outputs: outputs)
    }
    public var inputFloats: Int { inputShape.reduce(1, *) }
}

/// A Keras model ready to run: OpenCV networks built from a KerasModel, one
/// per worker (OpenCV nets are not thread-safe), created on demand and
/// sharing the model's weights in Swift memory. Safe to call from any thread.
public final class KerasNetwork: Sendable {
    public let model: KerasModel
    /// How many samples run at once, each on its own net.
    public let workers: Int
    private let graphs: Pool<Graph>

    /// One OpenCV net; used by one thread at a time through the pool.
    private final class Graph {
        let handle: OpaquePointer
        /// `plan`: where to save the built graph's plan.
        init(_ model: KerasModel, plan: String? = nil) throws {
            let graph: OpaquePointer
            do {
                graph = try Native.make { out, err in fk_graph_new(out, err) }
            } catch {
                throw KerasNetwork.loadError(model, error)
            }
            do {
                if let plan { try Native.check { err in fk_graph_set_plan_output(graph, plan, 0, err) } }
                for layer in model.layers {
                    try KerasNetwork.add(layer, to: graph)
                }
                let s = model.inputShape
                let inputShape: [Int32] = [1, Int32(s[2]), Int32(s[0]), Int32(s[1])]
                try Native.check { err in fk_graph_finish(graph, inputShape, 4, model.outputs, Int32(model.outputs.count), err) }
            } catch {
                fk_graph_free(graph)
                throw KerasNetwork.loadError(model, error)
            }
            handle = graph
        }
        /// A saved plan; nil when it cannot be used (stale, damaged), which
        /// the caller answers by building from the file.
        init?(plan: String) {
            var out: OpaquePointer?
            var nhwc: Int32 = 0
            var error = fk_error()
            guard fk_graph_open_plan(plan, &out, &nhwc, &error) == FK_OK, let handle = out else { return nil }
            self.handle = handle
        }
        /// Another copy of a graph opened from a plan, on the same mapped
        /// weights (fk_graph_open_sibling).
        init?(siblingOf like: Graph) {
            var out: OpaquePointer?
            var error = fk_error()
            guard fk_graph_open_sibling(like.handle, &out, &error) == FK_OK, let handle = out else { return nil }
            self.handle = handle
        }

        /// Outputs' shapes in Keras' order, without the batch axis.
        var kerasOutputShapes: [[Int]] {
            (0..<fk_graph_output_count(handle)).map { index in
                var shape = [Int32](repeating: 0, count: 8)
                var dims: Int32 = 0
                var error = fk_error()
                _ = fk_graph_output_shape(handle, index, &shape, &dims, &error)
                let s = shape.prefix(Int(dims)).dropFirst().map(Int.init)
                return s.count == 3 ? [s[1], s[2], s[0]] : s
            }
        }

        deinit { fk_graph_free(handle) }
    }

    /// Builds the first network now, so that a bad description or file
    /// fails here; `workers` bounds how many run at once. The Swift copy of
    /// the weights is released once the last worker's net is built (OpenCV
    /// holds its own), so a model costs its weights once, not twice.
    public convenience init(model: KerasModel, workers: Int = 1) throws {
        try self.init(plan: nil, architecture: model.architecture, file: model.file, inputShape: model.inputShape,
                      workers: workers) { model }
    }

    public convenience init(architecture: KerasArchitecture, file: String, workers: Int = 1) throws {
        try self.init(model: KerasModel.load(architecture, file: file), workers: workers)
    }

    /// As init(architecture:file:workers:), through a saved plan: when
    /// `plans` holds this file's, the .h5 is not read at all and every
    /// worker reads the same mapped weights; otherwise the file is read, built and
    /// its plan saved for the next load.
    public convenience init(architecture: KerasArchitecture, file: String, workers: Int = 1, plans: PlanCache?) throws {
        let plan = plans?.path(source: file, inputShape: [1] + architecture.inputShape, tag: architecture.name)
        try self.init(plan: plan, architecture: architecture.name, file: file, inputShape: architecture.inputShape, workers: workers) {
            try KerasModel.load(architecture, file: file)
        }
    }

    /// A network from the saved plan at `plan` when it is there and still
    /// opens (`load` is not called), else from `load()`'s model, whose
    /// first network saves the plan for the next time; the other workers
    /// then map it instead of converting the weights again.
    public init(plan: String?, architecture: String, file: String, inputShape: [Int], workers: Int = 1,
                load: () throws -> KerasModel) throws {
        let capacity = max(1, workers)
        self.workers = capacity
        if let plan, FileManager.default.fileExists(atPath: plan), let first = Graph(plan: plan) {
            let model = KerasModel(architecture: architecture, file: file, inputShape: inputShape,
                                   outputShapes: first.kerasOutputShapes, layers: [], outputs: [])
            self.model = model
            let handed = Locked<Graph?>(first)
            graphs = Pool(capacity: capacity) {
                if let graph = handed.withLock({ value -> Graph? in defer { value = nil }; return value }) { return graph }
                // One mapping of the weights for every worker's copy.
                if let copy = Graph(siblingOf: first) { return copy }
                guard let graph = Graph(plan: plan) else {
                    throw FaceKitError.modelLoadFailed(model: model.architecture, reason: "the saved plan \(plan) no longer opens")
                }
                return graph
            }
            try graphs.warmUp()
            return
        }
        let full = try load()
        model = full.withoutWeights
        // The Swift copy of the weights goes as soon as no worker can need
        // it: once the plan is saved (the others map it), or once every
        // worker's network is built, so a model costs its weights once.
        let source = Locked<(model: KerasModel?, remaining: Int)>((full, capacity))
        graphs = Pool(capacity: capacity) {
            if let plan, FileManager.default.fileExists(atPath: plan), let graph = Graph(plan: plan) { return graph }
            guard let model = source.withLock({ $0.model }) else {
                throw FaceKitError.modelLoadFailed(model: architecture, reason: "no weights left to build another network")
            }
            let graph = try Graph(model, plan: plan)
            let saved = plan.map { FileManager.default.fileExists(atPath: $0) } ?? false
            source.withLock { state in
                state.remaining -= 1
                if state.remaining == 0 || saved { state.model = nil }
            }
            return graph
        }
        try graphs.warmUp()
    }

    /// Runs `count` samples given as one NHWC float buffer (Keras' layout,
    /// already preprocessed). Returns each output for all samples: result[o]
    /// holds count * size(o) floats, sample-major, 4-d outputs in NHWC.
    public func predict(_ batch: [Float], count: Int) throws -> [[Float]] {
        guard count >= 0, batch.count == count * model.inputFloats else {
            throw FaceKitError.invalidInput("\(model.architecture) takes \(model.inputShape) per sample; got \(batch.count) floats for \(count) samples")
        }
        let per = model.floatsPerSample, inputFloats = model.inputFloats
        // OpenCV 4.6 gains nothing from a batch axis, so the samples are
        // split over the workers' nets (one lane each) and run side by side.
        let lanes = max(1, min(workers, count))
        let chunks = Locked([[Float]](repeating: [], count: lanes))
        let failure = Locked<Error?>(nil)
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            let start = count * lane / lanes, end = count * (lane + 1) / lanes
            guard end > start else { return }
            do {
                var out = [Float](repeating: 0, count: (end - start) * per)
                try graphs.with { graph in
                    var written = 0
                    try Native.check { err in
                        batch.withUnsafeBufferPointer { input in
                            out.withUnsafeMutableBufferPointer { o in
                                fk_graph_forward(graph.handle, input.baseAddress! + start * inputFloats, Int32(end - start),
                                                 o.baseAddress, o.count, &written, err)
                            }
                        }
                    }
                }
                chunks.withLock { $0[lane] = out }
            } catch {
                failure.withLock { $0 = $0 ?? error }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
        let flat = lanes == 1 ? chunks.withLock { $0[0] } : chunks.withLock { $0.flatMap { $0 } }
        let sizes = model.outputShapes.map { $0.reduce(1, *) }
        if sizes.count == 1 { return [flat] }
        var results = sizes.map { [Float](repeating: 0, count: $0 * count) }
        var offset = 0
        for n in 0..<count {
            for (o, size) in sizes.enumerated() {
                results[o].replaceSubrange(n * size..<(n + 1) * size, with: flat[offset..<offset + size])
                offset += size
            }
        }
        return results
    }

    fileprivate static func add(_ layer: PreparedLayer, to graph: OpaquePointer) throws {
        var id: Int32 = 0
        // Keeps every blob's buffers alive and pinned for the one call.
        func withBlobs(_ index: Int, _ collected: [fk_blob], _ body: ([fk_blob]) throws -> Void) throws {
            if index == layer.blobs.count { return try body(collected) }
            let blob = layer.blobs[index]
            try blob.data.withUnsafeBufferPointer { data in
                try blob.shape.withUnsafeBufferPointer { shape in
                    try withBlobs(index + 1, collected + [fk_blob(data: data.baseAddress, shape: shape.baseAddress, dims: Int32(shape.count),
                                                                       from_keras: blob.fromKeras ? 1 : 0)], body)
                }
            }
        }
        try withBlobs(0, []) { blobs in
            try Native.check { err in
                fk_graph_add(graph, layer.name, layer.type, layer.params, layer.inputs, Int32(layer.inputs.count),
                             blobs, Int32(blobs.count), layer.expected, Int32(layer.expected.count), &id, err)
            }
        }
    }

    fileprivate static func loadError(_ model: KerasModel, _ error: Error) -> FaceKitError {
        switch error {
        case FaceKitError.modelLoadFailed(_, let reason), FaceKitError.invalidInput(let reason), FaceKitError.inferenceFailed(let reason):
            return .modelLoadFailed(model: model.architecture, reason: "\(model.file): \(reason)")
        case let error as FaceKitError:
            return error
        default:
            return .modelLoadFailed(model: model.architecture, reason: "\(error)")
        }
    }
}

/// Loaded Keras networks by architecture and file, so that a second load of
/// the same file (another engine, another request) reuses the first: the
/// file is read, converted and built once. A file that changes on disk (size
/// or date) is loaded again. Owned by whoever loads models, not global.
public final class KerasModelCache: Sendable {
    private struct Key: Hashable {
        let architecture: String
        let path: String
        let size: Int64
        let modified: Date
    }

    private let networks = Locked<[Key: KerasNetwork]>([:])
    private let workers: Int

    /// `workers`: how many samples each network may run at once.
    public init(workers: Int = 1) {
        self.workers = max(1, workers)
    }

    public func network(_ architecture: KerasArchitecture, file path: String) throws -> KerasNetwork {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let key = Key(architecture: architecture.name, path: URL(fileURLWithPath: path).standardizedFileURL.path,
                      size: (attributes?[.size] as? NSNumber)?.int64Value ?? -1,
                      modified: attributes?[.modificationDate] as? Date ?? .distantPast)
        if let cached = networks.withLock({ $0[key] }) { return cached }
        // Loaded outside the lock: two first loads of one file may race, and
        // the second simply replaces the first.
        let loaded = try KerasNetwork(model: KerasModel.load(architecture, file: path), workers: workers)
        networks.withLock { $0[key] = loaded }
        return loaded
    }
}
