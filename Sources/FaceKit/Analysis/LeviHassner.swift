/// Levi and Hassner's age and gender CNNs ("Age and Gender Classification
/// using Convolutional Neural Networks", CVPR 2015 workshops), Caffe, through
/// OpenCV dnn. Input: the face stretched to 227x227, BGR bytes minus the
/// Adience training mean, as their published deploy code feeds it.
struct LeviHassnerPredictor: AttributePredictor {
    let model: AttributeModel
    private let nets: Pool<DnnNet>

    static let side = 227
    /// Per-channel mean of the Adience training images, B, G, R.
    static let mean: [Float] = [78.4263377603, 87.7689143744, 114.895847746]
    /// The eight Adience age groups and the age each one stands for (its
    /// midpoint; the open top group (60-100) counts as 80).
    static let ageGroups: [(label: String, years: Double)] = [
        ("0-2", 1), ("4-6", 5), ("8-12", 10), ("15-20", 17.5), ("25-32", 28.5), ("38-43", 40.5), ("48-53", 50.5), ("60-100", 80),
    ]

    init(model: AttributeModel, config: String, weights: String, copies: Int) throws {
        self.model = model
        nets = Pool(capacity: copies) { try DnnNet(model: weights, config: config, name: model.name) }
        try nets.warmUp()
    }

    private var classCount: Int { model.action == .age ? Self.ageGroups.count : 2 }

    func predict(_ crops: [AnalysisCrop]) throws -> [AttributeScores] {
        guard !crops.isEmpty else { return [] }
        let side = Self.side, plane = side * side
        var batch = [Float](repeating: 0, count: crops.count * 3 * plane)
        for (i, crop) in crops.enumerated() {
            let bytes = try crop.face.resizedBytes(width: side, height: side, gray: false)
            let base = i * 3 * plane
            for p in 0..<plane {
                for c in 0..<3 { batch[base + c * plane + p] = Float(bytes[3 * p + c]) - Self.mean[c] }
            }
        }
        let k = classCount
        let flat = try nets.with { try $0.forward(batch, shape: [Int32(crops.count), 3, Int32(side), Int32(side)], outputCount: crops.count * k) }
        return rows(flat, count: crops.count, width: k).map { p in
            switch model.action {
            case .age:
                return .age(zip(p, Self.ageGroups).reduce(0) { $0 + $1.0 * $1.1.years })
            default:
                // The network's classes are (Male, Female); deepface's are (Woman, Man).
                return .classes([p[1], p[0]])
            }
        }
    }
}
