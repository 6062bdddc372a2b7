/// deepface's own attribute models from its ONNX files (exported from its
/// PyTorch models, channels-last input), through OpenCV dnn, fed exactly as
/// deepface's analyze feeds them: age, gender and race take the 224x224
/// fitted face (float BGR in [0, 1]); emotion takes its gray, resized to 48x48.
struct DeepfaceDemographyPredictor: AttributePredictor {
    let model: AttributeModel
    private let nets: Pool<DnnNet>

    static let emotionSide = 48

    init(model: AttributeModel, path: String, copies: Int) throws {
        self.model = model
        nets = Pool(capacity: copies) { try DnnNet(model: path, name: "deepface \(model.action.rawValue) model (\(path))") }
        try nets.warmUp()
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
        let flat = try nets.with { try $0.forward(inputs.flatMap { $0 }, shape: shape, outputCount: crops.count * width) }
        return rows(flat, count: crops.count, width: width).map { p in
            // deepface: age is the expectation over the classes 0...100.
            model.action == .age ? .age(p.enumerated().reduce(0) { $0 + $1.element * Double($1.offset) }) : .classes(p)
        }
    }
}
