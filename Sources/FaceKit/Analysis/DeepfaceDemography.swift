/// deepface's own attribute models, fed exactly as deepface's analyze feeds
/// them: age, gender and race take the 224x224 fitted face (float BGR in
/// [0, 1], NHWC); emotion takes its gray, resized to 48x48. The weights come
/// from deepface's ONNX export (channels-last, as a translated layer graph or
/// through OpenCV's importer: OnnxNetwork) or from its Keras .h5 file
/// (through the native Keras loader); both run the same math.
struct DeepfaceDemographyPredictor: SingleAttributePredictor {
    let model: AttributeModel
    private let backend: Backend

    enum Backend {
        case onnx(OnnxNetwork)
        case keras(KerasNetwork)
    }

    static let emotionSide = 48

    /// The export is rewritten once for OpenCV 4.6 (GraphCache: shape
    /// arithmetic folded for one face at a time, ops 4.6 lacks replaced), as
    /// for deepface's recognition graphs.
    init(model: AttributeModel, onnx path: String, cache: GraphCache, copies: Int, plans: PlanCache? = nil) throws {
        self.model = model
        let shape = model.action == .emotion
            ? [1, Self.emotionSide, Self.emotionSide, 1]
            : [1, AnalysisCrop.deepfaceSide, AnalysisCrop.deepfaceSide, 3]
        let name = "deepface \(model.action.rawValue) model"
        let prepared = try cache.prepare(source: path, inputShape: shape, model: name)
        backend = .onnx(try OnnxNetwork(path: prepared.path, inputShape: shape, name: "\(name) (\(path))", workers: copies,
                                        plan: plans?.path(sha256: prepared.sourceSHA256, inputShape: shape, tag: GraphCache.rewriterVersion)))
    }

    init(model: AttributeModel, keras path: String, copies: Int, plans: PlanCache? = nil) throws {
        self.model = model
        let architecture: KerasArchitecture
        switch model.action {
        case .age: architecture = .deepfaceAge
        case .gender: architecture = .deepfaceGender
        case .race: architecture = .deepfaceRace
        case .emotion: architecture = .deepfaceEmotion
        }
        backend = .keras(try KerasNetwork(architecture: architecture, file: path, workers: copies, plans: plans))
    }

    private var outputWidth: Int { model.action == .age ? 101 : model.action.labels.count }

    func predictOne(_ crops: [AnalysisCrop]) throws -> [AttributeScores] {
        guard !crops.isEmpty else { return [] }
        let side = AnalysisCrop.deepfaceSide
        let inputs = try crops.map { crop -> [Float] in
            guard let input = crop.deepfaceInput else {
                throw FaceKitError.inferenceFailed("deepface's \(model.action.rawValue) model needs the 224x224 face input")
            }
            return model.action == .emotion ? try grayResized(input, width: side, height: side, to: Self.emotionSide) : input
        }
        let width = outputWidth
        let batch = inputs.flatMap { $0 }
        let flat: [Float]
        switch backend {
        case .onnx(let network):
            // The rewritten graph is folded for a batch of one.
            flat = try inputs.flatMap { try network.forward($0, outputCount: width) }
        case .keras(let network):
            flat = try network.predict(batch, count: crops.count)[0]
        }
        guard flat.count == crops.count * width else {
            throw FaceKitError.inferenceFailed("\(model.name) \(model.action.rawValue) gave \(flat.count) values for \(crops.count) faces")
        }
        return rows(flat, count: crops.count, width: width).map { p in
            // deepface: age is the expectation over the classes 0...100.
            model.action == .age ? .age(p.enumerated().reduce(0) { $0 + $1.element * Double($1.offset) }) : .classes(p)
        }
    }
}
