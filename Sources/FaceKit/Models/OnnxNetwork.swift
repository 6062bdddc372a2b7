import CFaceKitNative
import Foundation

/// One ONNX model, run as the layer graph translated from the file
/// (fk_graph_from_onnx, on fk_graph's engine) or, when the file has no exact
/// translation, through OpenCV's own ONNX importer (fk_net) as before.
///
/// Callers give inputs in the file's own layout and get the file's outputs
/// either way. The choice is made once, at load: FACEKIT_ENGINE=opencv keeps
/// every model on fk_net (the other engine honours it inside fk_graph too).
/// Safe to call from any thread: native objects are used one thread at a
/// time through a Pool of `workers` copies.
final class OnnxNetwork: Sendable {
    enum Engine: String, Sendable {
        /// fk_graph_from_onnx's graph, with fk_net kept for files it cannot translate.
        case automatic
        /// OpenCV's ONNX importer only.
        case opencv

        static var fromEnvironment: Engine {
            ProcessInfo.processInfo.environment["FACEKIT_ENGINE"]?.lowercased() == "opencv" ? .opencv : .automatic
        }
    }

    private enum Backend {
        case graph(Pool<OnnxGraph>, fileIsNHWC: Bool)
        case net(Pool<DnnNet>)
    }

    private let backend: Backend
    /// The file's input shape, batch 1.
    let inputShape: [Int]
    /// Why the file runs on fk_net although the graph path was allowed
    /// (the translator's message), for tests and diagnostics.
    let fallbackReason: String?

    /// Whether the translated graph runs this model.
    var usesGraph: Bool {
        if case .graph = backend { return true }
        return false
    }

    /// `inputShape`: the file's input, in its own layout, batch 1. A file
    /// that does not load either way throws fk_net's error, typed as before.
    /// `plan`: where the translated graph's saved plan is (PlanCache), or
    /// is to be written.
    init(path: String, inputShape: [Int], name: String, workers: Int, engine: Engine = .fromEnvironment,
         plan: String? = nil) throws {
        self.inputShape = inputShape
        var reason: String? = "FACEKIT_ENGINE=opencv"
        if engine == .automatic {
            // Copies after the first share its plan's mapping: one copy of
            // the weights in memory however many run (SFace: 37 MB).
            let first = Locked<OnnxGraph?>(nil)
            let graphs = Pool(capacity: workers) { () throws -> OnnxGraph in
                if let like = first.withLock({ $0 }), let copy = OnnxGraph(siblingOf: like) { return copy }
                let graph = try OnnxGraph(path: path, inputShape: inputShape, plan: plan)
                first.withLock { if $0 == nil { $0 = graph } }
                return graph
            }
            do {
                let nhwc = try graphs.with { $0.fileIsNHWC }
                backend = .graph(graphs, fileIsNHWC: nhwc)
                fallbackReason = nil
                return
            } catch {
                // Unsupported operators are the expected case; any other
                // failure is left for fk_net to report as it always has.
                reason = "\(error)"
            }
        }
        fallbackReason = reason
        let nets = Pool(capacity: workers) { try DnnNet(model: path, name: name) }
        try nets.warmUp()
        backend = .net(nets)
    }

    /// One sample in the file's layout (inputShape); exactly `outputCount`
    /// values out (every output of the file, in order).
    func forward(_ input: [Float], outputCount: Int) throws -> [Float] {
        switch backend {
        case .graph(let graphs, let nhwc):
            // fk_graph takes channels-last samples; an NCHW file's input is
            // turned around first.
            let x = nhwc ? input : Self.channelsLast(input, shape: inputShape)
            return try graphs.with { try $0.forward(x, outputCount: outputCount) }
        case .net(let nets):
            return try nets.with { try $0.forward(input, shape: inputShape.map(Int32.init), outputCount: outputCount) }
        }
    }

    /// (1, C, H, W) -> (1, H, W, C).
    static func channelsLast(_ x: [Float], shape: [Int]) -> [Float] {
        let (c, h, w) = (shape[1], shape[2], shape[3])
        let plane = h * w
        var out = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for ch in 0..<c {
                    for p in 0..<plane { dst[p * c + ch] = src[ch * plane + p] }
                }
            }
        }
        return out
    }
}

/// The fk_graph that fk_graph_from_onnx builds from a file. Not thread-safe;
/// used through a Pool.
final class OnnxGraph: @unchecked Sendable {
    private let handle: OpaquePointer
    /// 1: the file takes NHWC and fk_graph gets its input unchanged; 0: the
    /// file takes NCHW.
    let fileIsNHWC: Bool

    /// The translator's reason when the file has no exact translation.
    struct Unsupported: Error, CustomStringConvertible {
        let description: String
    }

    /// `plan`: the graph's saved plan, opened when it is there and still
    /// fits this build and CPU, else (re)written from the file
    /// (fk_graph_from_onnx).
    init(path: String, inputShape: [Int], plan: String? = nil) throws {
        var out: OpaquePointer?
        var nhwc: Int32 = 0
        var error = fk_error()
        let shape = inputShape.map(Int64.init)
        let status = shape.withUnsafeBufferPointer {
            fk_graph_from_onnx(path, $0.baseAddress, Int32(shape.count), plan, &out, &nhwc, &error)
        }
        if status == FK_ERR_UNSUPPORTED { throw Unsupported(description: Native.message(error)) }
        if status != FK_OK { throw Native.map(status, Native.message(error)) }
        guard let handle = out else { throw FaceKitError.inferenceFailed("fk_graph_from_onnx returned no graph") }
        self.handle = handle
        fileIsNHWC = nhwc != 0
    }

    /// Another copy of a graph opened from its saved plan: its own
    /// activations, the same mapped weights (fk_graph_open_sibling); nil
    /// when `like` was not opened from a plan.
    init?(siblingOf like: OnnxGraph) {
        var out: OpaquePointer?
        var error = fk_error()
        guard fk_graph_open_sibling(like.handle, &out, &error) == FK_OK, let handle = out else { return nil }
        self.handle = handle
        fileIsNHWC = like.fileIsNHWC
    }

    deinit { fk_graph_free(handle) }

    func forward(_ nhwc: [Float], outputCount: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: outputCount)
        var written = 0
        var error = fk_error()
        let status = nhwc.withUnsafeBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { o in
                fk_graph_forward(handle, inp.baseAddress, 1, o.baseAddress, o.count, &written, &error)
            }
        }
        // A model of another size says so as fk_net's path does.
        guard status == FK_OK || written > outputCount else { throw Native.map(status, Native.message(error)) }
        guard written == outputCount else {
            throw FaceKitError.inferenceFailed("expected \(outputCount) outputs, got \(written)")
        }
        return out
    }
}
