import CFaceKitNative

/// A loaded OpenCV dnn network. Not thread-safe; used through a Pool.
final class DnnNet: @unchecked Sendable {
    private let handle: OpaquePointer

    init(model: String, config: String? = nil, name: String) throws {
        do {
            handle = try Native.make { out, err in fk_net_open(model, config, out, err) }
        } catch FaceKitError.modelLoadFailed(_, let reason) {
            throw FaceKitError.modelLoadFailed(model: name, reason: reason)
        }
    }

    deinit { fk_net_free(handle) }

    func forward(_ input: [Float], shape: [Int32], outputCount: Int) throws -> [Float] {
        var out = [Float](repeating: 0, count: outputCount)
        var written = 0
        try Native.check { err in
            input.withUnsafeBufferPointer { inp in
                shape.withUnsafeBufferPointer { shp in
                    out.withUnsafeMutableBufferPointer { o in
                        fk_net_forward(handle, inp.baseAddress, shp.baseAddress, Int32(shape.count), o.baseAddress, o.count, &written, err)
                    }
                }
            }
        }
        guard written == outputCount else {
            throw FaceKitError.inferenceFailed("expected \(outputCount) outputs, got \(written)")
        }
        return out
    }
}

/// SFace, fed as deepface's ONNX backend feeds it: bytes in RGB order,
/// channels first, unscaled. The file runs as a translated layer graph, or
/// through OpenCV's importer when FACEKIT_ENGINE=opencv (OnnxNetwork).
struct SFaceRecognizer: FaceRecognizer {
    let info = RecognitionModels.sface
    let network: OnnxNetwork

    init(path: String, workers: Int, engine: OnnxNetwork.Engine = .fromEnvironment, plans: PlanCache? = nil) throws {
        let shape = [1, 3, 112, 112]
        network = try OnnxNetwork(path: path, inputShape: shape, name: "SFace", workers: workers, engine: engine,
                                  plan: plans?.path(source: path, inputShape: shape))
    }

    func embed(_ faces: [[Float]]) throws -> [[Float]] {
        let side = 112, plane = side * side
        return try faces.map { hwc in
            var chw = [Float](repeating: 0, count: 3 * plane)
            for p in 0..<plane {
                // BGR in, RGB planes out.
                chw[p] = Float(truncatedByte(hwc[3 * p + 2]))
                chw[plane + p] = Float(truncatedByte(hwc[3 * p + 1]))
                chw[2 * plane + p] = Float(truncatedByte(hwc[3 * p]))
            }
            return try network.forward(chw, outputCount: 128)
        }
    }
}
