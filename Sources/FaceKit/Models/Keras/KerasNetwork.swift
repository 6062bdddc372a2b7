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
        return KerasModel(architecture: architecture.name, file: path, inputShape: architecture.inputShape,
                          outputShapes: outputs.map(\.shape), layers: builder.layers, outputs: outputs.map(\.id))
    }

    public var floatsPerSample: Int { outputShapes.reduce(0) { $0 + $1.reduce(1, *) } }
    public var inputFloats: Int { inputShape.reduce(1, *) }
}

/// One OpenCV network built from a KerasModel. Not thread-safe: give each
/// worker its own (they share the model's weights in Swift memory).
public final class KerasNetwork: @unchecked Sendable {
    public let model: KerasModel
    private let handle: OpaquePointer

    public init(model: KerasModel) throws {
        self.model = model
        let graph: OpaquePointer
        do {
            graph = try Native.make { out, err in fk_graph_new(out, err) }
        } catch {
            throw Self.loadError(model, error)
        }
        do {
            for layer in model.layers {
                try Self.add(layer, to: graph)
            }
            let s = model.inputShape
            let inputShape: [Int32] = [1, Int32(s[2]), Int32(s[0]), Int32(s[1])]
            try Native.check { err in fk_graph_finish(graph, inputShape, 4, model.outputs, Int32(model.outputs.count), err) }
        } catch {
            fk_graph_free(graph)
            throw Self.loadError(model, error)
        }
        handle = graph
    }

    public convenience init(architecture: KerasArchitecture, file: String) throws {
        try self.init(model: KerasModel.load(architecture, file: file))
    }

    deinit { fk_graph_free(handle) }

    /// Runs `count` samples given as one NHWC float buffer (Keras' layout,
    /// already preprocessed). Returns each output for all samples: result[o]
    /// holds count * size(o) floats, sample-major, 4-d outputs in NHWC.
    public func predict(_ batch: [Float], count: Int) throws -> [[Float]] {
        guard count >= 0, batch.count == count * model.inputFloats else {
            throw FaceKitError.invalidInput("\(model.architecture) takes \(model.inputShape) per sample; got \(batch.count) floats for \(count) samples")
        }
        let per = model.floatsPerSample
        var flat = [Float](repeating: 0, count: per * count)
        var written = 0
        try Native.check { err in
            batch.withUnsafeBufferPointer { input in
                flat.withUnsafeMutableBufferPointer { out in
                    fk_graph_forward(handle, input.baseAddress, Int32(count), out.baseAddress, out.count, &written, err)
                }
            }
        }
        let sizes = model.outputShapes.map { $0.reduce(1, *) }
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

    private static func add(_ layer: PreparedLayer, to graph: OpaquePointer) throws {
        var id: Int32 = 0
        // Keeps every blob's buffers alive and pinned for the one call.
        func withBlobs(_ index: Int, _ collected: [fk_blob], _ body: ([fk_blob]) throws -> Void) throws {
            if index == layer.blobs.count { return try body(collected) }
            let blob = layer.blobs[index]
            try blob.data.withUnsafeBufferPointer { data in
                try blob.shape.withUnsafeBufferPointer { shape in
                    try withBlobs(index + 1, collected + [fk_blob(data: data.baseAddress, shape: shape.baseAddress, dims: Int32(shape.count))], body)
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

    private static func loadError(_ model: KerasModel, _ error: Error) -> FaceKitError {
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

/// Loaded Keras models by architecture and file, so that a second load of
/// the same file (another worker, another engine) skips reading and
/// converting the weights. A file that changes on disk (size or date) is
/// read again. Owned by whoever loads models (an engine), not global.
public final class KerasModelCache: Sendable {
    private struct Key: Hashable {
        let architecture: String
        let path: String
        let size: Int64
        let modified: Date
    }

    private let models = Locked<[Key: KerasModel]>([:])

    public init() {}

    public func model(_ architecture: KerasArchitecture, file path: String) throws -> KerasModel {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let key = Key(architecture: architecture.name, path: URL(fileURLWithPath: path).standardizedFileURL.path,
                      size: (attributes?[.size] as? NSNumber)?.int64Value ?? -1,
                      modified: attributes?[.modificationDate] as? Date ?? .distantPast)
        if let cached = models.withLock({ $0[key] }) { return cached }
        let loaded = try KerasModel.load(architecture, file: path)
        models.withLock { $0[key] = loaded }
        return loaded
    }

    public func network(_ architecture: KerasArchitecture, file path: String) throws -> KerasNetwork {
        try KerasNetwork(model: model(architecture, file: path))
    }
}
