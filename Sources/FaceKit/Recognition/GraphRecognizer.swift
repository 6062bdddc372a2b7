import Foundation

/// One of deepface's graphs (VGG-Face, Facenet, Facenet512, ArcFace,
/// GhostFaceNet, OpenFace, DeepID) from its ONNX file. The file is rewritten
/// once for OpenCV 4.6 (GraphCache); the rewritten file runs as a translated
/// layer graph, or through OpenCV's importer when it has no exact
/// translation (OnnxNetwork). deepface's ONNX client feeds the fitted faces
/// as they are: channels last (n, h, w, 3), BGR, float32; so does this.
struct GraphRecognizer: FaceRecognizer {
    let info: RecognitionModelInfo
    let network: OnnxNetwork
    let prepared: GraphCache.Prepared

    init(info: RecognitionModelInfo, onnx path: String, cache: GraphCache, workers: Int, plans: PlanCache? = nil) throws {
        self.info = info
        let shape = [1, info.inputHeight, info.inputWidth, 3]
        let prepared = try cache.prepare(source: path, inputShape: shape, model: info.name)
        self.prepared = prepared
        let file = (path as NSString).lastPathComponent
        // A file of another model (or another size of this one) still folds
        // cleanly; its output gives it away before any face is embedded.
        if !prepared.outputShape.isEmpty, prepared.outputShape.reduce(1, *) != info.dimensions {
            throw FaceKitError.modelLoadFailed(
                model: info.name,
                reason: "\(file) outputs \(prepared.outputShape.map(String.init).joined(separator: "x")) values per face, but \(info.name) gives \(info.dimensions): is it another model's file?")
        }
        network = try OnnxNetwork(path: prepared.path, inputShape: shape, name: info.name, workers: workers,
                                  plan: plans?.path(sha256: prepared.sourceSHA256, inputShape: shape, tag: GraphCache.rewriterVersion))
        // Run once on OpenCV's importer: it allocates its buffers on the first
        // forward, and a graph that imports but cannot run fails here, at
        // load, by name. A translated graph was checked layer by layer when planned.
        if !network.usesGraph {
            let probe = [Float](repeating: 0, count: info.inputWidth * info.inputHeight * 3)
            do {
                _ = try network.forward(probe, outputCount: info.dimensions)
            } catch let error as FaceKitError {
                throw FaceKitError.modelLoadFailed(model: info.name, reason: "\(file) does not run: \(error)")
            }
        }
    }

    func embed(_ faces: [[Float]]) throws -> [[Float]] {
        try faces.map { face in
            let out = try network.forward(face, outputCount: info.dimensions)
            return info.normalizesOutput ? Self.l2Normalized(out) : out
        }
    }

    /// deepface's verification.l2_normalize: x / (||x|| + 1e-10), in double.
    static func l2Normalized(_ v: [Float]) -> [Float] {
        let norm = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        return v.map { Float(Double($0) / (norm + 1e-10)) }
    }
}
