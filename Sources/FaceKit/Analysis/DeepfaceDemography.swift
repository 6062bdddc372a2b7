/// deepface's own attribute models, fed exactly as deepface's analyze feeds
/// them: age, gender and race take the 224x224 fitted face (float BGR in
/// [0, 1], NHWC); emotion takes its gray, resized to 48x48. The weights come
/// from deepface's ONNX export (channels-last, through OpenCV dnn) or from its
/// Keras .h5 file (through the native Keras loader); both run the same math.
struct DeepfaceDemographyPredictor: AttributePredictor {
    let model: AttributeModel
    private let backend: Backend

    enum Backend {
        case onnx(Pool<DnnNet>)
        case keras(Pool<KerasNetwork>)
    }

    static let emotionSide = 48

    init(model: AttributeModel, onnx path: String, copies: Int) throws {
        self.model = model
        let nets = Pool(capacity: copies) { try DnnNet(model: path, name: "deepface \(model.action.rawValue) model (\(path))") }
        try nets.warmUp()
        backend = .onnx(nets)
    }

    init(model: AttributeModel, keras path: String, copies: Int) throws {
        self.model = model
        let architecture: KerasArchitecture
        switch model.action {
        case .age: architecture = .deepfaceAge
        case .gender: architecture = .deepfaceGender
        case .race: architecture = .deepfaceRace
        case .emotion: architecture = .deepfaceEmotion
        }
        // Read the file once; each copy builds its network from memory.
        let loaded = try KerasModel.load(architecture, file: path)
        let nets = Pool(capacity: copies) { try KerasNetwork(model: loaded) }
        try nets.warmUp()
        backend = .keras(nets)
    }

    private var outputWidth: Int { model.action == .age ? 101 : model.action.labels.count }

    func predict(_ crops: [AnalysisCrop]) throws -> [AttributeScores] {
        guard !crops.isEmpty else { return [] }
        let side = AnalysisCrop.deepfaceSide
        let inputs = try crops.map { crop -> [Float] in
            guard let input = crop.deepfaceInput else {
                throw FaceKitError.inferenceFailed("deepface's \(model.action.rawValue) model needs the 224x224 face input")
            }
            return model.action == .emotion ? try grayResized(input, width: side, height: side, to: Self.emotionSide) : input
        }
        let shape: [Int32] = model.action == .emotion
            ? [Int32(crops.count), Int32(Self.emotionSide), Int32(Self.emotionSide), 1]
            : [Int32(crops.count), Int32(side), Int32(side), 3]
        let width = outputWidth
        let batch = inputs.flatMap { $0 }
        let flat: [Float]
        switch backend {
        case .onnx(let nets):
            flat = try nets.with { try $0.forward(batch, shape: shape, outputCount: crops.count * width) }
        case .keras(let nets):
            flat = try nets.with { try $0.predict(batch, count: crops.count)[0] }
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
